//===- SanitizerAllocatorCompat.h - LLVM allocator annotations off -*- C++ -*-===//
//
// Force-included (-include) into every file of the sanitizer and fuzzer
// builds (ATTN_ENABLE_SANITIZERS / ATTN_ENABLE_FUZZERS), never included by
// hand.
//
// LLVM's allocators (BumpPtrAllocator, Recycler, ArrayRecycler) poison their
// free memory for ASan when the file that instantiates them is built with
// ASan. libMLIR.so is not, and the two share allocators: a slab that our
// inline copy of BumpPtrAllocator poisons is later handed out by the
// library's copy, which never unpoisons it, and the next instrumented read
// of an attribute or an operation stored there reports a false
// "use-after-poison". With the annotations off in our code too, both copies
// behave the same; real overflows are still caught by ASan's own redzones
// around malloc'd slabs.
//
//===----------------------------------------------------------------------===//
#ifndef ATTENUATE_SUPPORT_SANITIZERALLOCATORCOMPAT_H
#define ATTENUATE_SUPPORT_SANITIZERALLOCATORCOMPAT_H

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
// Declares the functions first, so that its later inclusion by
// llvm/Support/Compiler.h finds them and the macros below stay in force.
#include <sanitizer/asan_interface.h>
#undef __asan_poison_memory_region
#undef __asan_unpoison_memory_region
#define __asan_poison_memory_region(p, size) ((void)(p), (void)(size))
#define __asan_unpoison_memory_region(p, size) ((void)(p), (void)(size))
#endif
#endif

#endif // ATTENUATE_SUPPORT_SANITIZERALLOCATORCOMPAT_H
