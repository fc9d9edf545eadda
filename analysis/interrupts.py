"""Stop signals as Ctrl-C: inside ``signals_as_interrupt()`` a SIGTERM (a scheduler's stop, a ``kill``)
raises KeyboardInterrupt like Ctrl-C does, so one clean-up path runs for both."""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@contextmanager
def signals_as_interrupt(*signals: signal.Signals):
    """Within the block, ``signals`` (default SIGTERM) raise KeyboardInterrupt; handlers restored after.
    Outside the main thread (where Python cannot set handlers) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _interrupt) for sig in signals or (signal.SIGTERM,)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
