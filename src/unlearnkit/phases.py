"""The phases of `unlearn run`, in order: what Ctrl-C names when it stops one, and a test hook.

Test hook: with ``$UNLEARNKIT_TEST_INTERRUPT_AT=PHASE`` the process sends itself SIGINT (what
Ctrl-C sends) when it enters PHASE, so a test stops each phase deterministically, without racing
a timer against a loaded machine. Unset, :func:`enter` only records the phase.
"""

from __future__ import annotations

import os
import signal

INTERRUPT_ENV = "UNLEARNKIT_TEST_INTERRUPT_AT"
PHASES = ("load", "reference", "train", "save", "eval", "attack", "report")

_current: list[str] = []  # the phase the process is in (empty before the first)


def enter(phase: str) -> None:
    """The process starts ``phase`` (one of PHASES)."""
    assert phase in PHASES, phase
    _current[:] = [phase]
    if os.environ.get(INTERRUPT_ENV) == phase:
        os.kill(os.getpid(), signal.SIGINT)


def current() -> str | None:
    return _current[0] if _current else None


def reset() -> None:
    """Before a command starts (in-process callers run several)."""
    _current.clear()
