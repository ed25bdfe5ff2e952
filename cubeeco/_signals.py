"""SIGTERM unwinds like Ctrl-C (``SystemExit(143)``), so ``finally`` blocks and context
managers run: the store lock is released, staged groups stay consistent, per-run
credentials are removed, worker jobs cancelled. ``kill``, ``scancel``, a walltime, a
Kubernetes pod deletion or ``docker stop`` all send SIGTERM first."""

from __future__ import annotations

import contextlib
import signal
import threading


@contextlib.contextmanager
def sigterm_unwinds():
    """For the block, SIGTERM raises ``SystemExit(128 + 15)``; only in the main thread and
    only where SIGTERM still has its default action (a program that set a handler of its
    own keeps it; nested blocks leave the outer one's handler in place)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return

    def unwind(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, unwind)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
