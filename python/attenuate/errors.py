"""Errors raised by the attenuate bindings.

Pure Python, so that the native module can raise these classes and the
pure-Python parts of the package can catch them without the extension.
"""

from __future__ import annotations

from typing import List, NamedTuple, Sequence, Tuple


class Diagnostic(NamedTuple):
    """One MLIR diagnostic: what the compiler said, and where.

    ``severity`` is ``"error"``, ``"warning"``, ``"remark"`` or ``"note"``;
    ``location`` is ``file:line:col`` for parsed text, the op's name location
    for imported models (e.g. ``model.layers.3.self_attn``), or
    ``<unknown>``; ``notes`` are the attached notes, already formatted.
    """

    severity: str
    location: str
    message: str
    notes: Tuple[str, ...] = ()

    def __str__(self) -> str:
        text = f"{self.location}: {self.severity}: {self.message}"
        return "\n".join([text, *self.notes])


class AttnError(RuntimeError):
    """An MLIR operation failed: a parse error, a verifier error, a pass that
    failed, a pipeline that does not parse, a JIT or runtime error.

    ``str(err)`` is the diagnostic text with its location (``file:line:col:
    error: ...``); ``err.diagnostics`` holds every diagnostic emitted during
    the call, errors and the remarks/warnings around them.
    """

    def __init__(self, message: str, diagnostics: Sequence[Diagnostic] = ()):
        super().__init__(message)
        self.message: str = message
        self.diagnostics: List[Diagnostic] = list(diagnostics)

    @property
    def errors(self) -> List[Diagnostic]:
        """The error diagnostics only."""
        return [d for d in self.diagnostics if d.severity == "error"]
