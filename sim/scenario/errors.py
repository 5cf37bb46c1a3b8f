"""Diagnostics: every problem in a scenario, located by file, line, column and field path.

A planner who mistypes a date must be told exactly where, and all at once. Loading code
therefore collects :class:`Diagnostic` objects instead of stopping at the first problem and
raises one :class:`ScenarioError` carrying them all. The CLI turns error kinds into the
documented exit codes below (sysexits-style, as in BSD ``sysexits.h``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the ``cutover`` command, documented in ``--help`` and the README."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    INVALID_SCENARIO = 65
    MISSING_INPUT = 66
    IO_ERROR = 74  # a write failed: disk full, read-only folder


@dataclass(frozen=True)
class Mark:
    """A position in a source file (1-based line and column)."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    """One finding: where, which field, what is wrong, and how bad."""

    message: str
    mark: Mark | None = None
    field: str = ""
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        where = f"{self.mark} " if self.mark else ""
        field = f"{self.field}: " if self.field else ""
        tag = "" if self.severity == "error" else f"{self.severity}: "
        return f"{where}{tag}{field}{self.message}"


class ScenarioError(Exception):
    """A scenario that cannot be used; carries every diagnostic found in one pass."""

    exit_code = ExitCode.INVALID_SCENARIO

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        super().__init__("\n".join(str(d) for d in diagnostics))


class MissingInputError(ScenarioError):
    """A file that should exist cannot be opened (exit 66)."""

    exit_code = ExitCode.MISSING_INPUT


def format_path(path: tuple[str | int, ...]) -> str:
    """Render a field path the way a planner reads it: ``sites[3].lab``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
