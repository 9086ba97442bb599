# The lit suite: configured with the build's tool paths and driven by ctest.
set(ATTN_LIT_EXECUTABLE /usr/lib/llvm-22/bin/lit)
find_package(Python3 REQUIRED COMPONENTS Interpreter)
configure_file(${CMAKE_CURRENT_SOURCE_DIR}/lit.site.cfg.py.in
               ${CMAKE_CURRENT_BINARY_DIR}/lit.site.cfg.py @ONLY)
set(ATTN_LIT_DEPENDS attn-opt attn-reduce AttnPlugin)
if(TARGET attn-exec)
  list(APPEND ATTN_LIT_DEPENDS attn-exec)
endif()
if(TARGET attn-import)
  list(APPEND ATTN_LIT_DEPENDS attn-import)
endif()
add_custom_target(check-attn-lit
  COMMAND ${ATTN_LIT_EXECUTABLE} -sv ${CMAKE_CURRENT_BINARY_DIR}
  DEPENDS ${ATTN_LIT_DEPENDS}
  USES_TERMINAL)
add_test(NAME lit
  COMMAND ${ATTN_LIT_EXECUTABLE} -v ${CMAKE_CURRENT_BINARY_DIR})
