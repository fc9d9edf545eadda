"""A stack for the length of a job: brought up if it is not, taken down afterwards if the job started it."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def stack_up(stack, keep_up: bool = False, owned: bool = False) -> Iterator[bool]:
    """Yield whether this job owns ``stack`` (it started it now, or ``owned``: an earlier, killed run of the
    same job did). An owned stack is taken down at the end, whatever happens, unless ``keep_up``; a stack
    that was already running is left as it was. A failing ``down`` is reported, never raised over the
    reason the job stopped."""
    running = stack.is_up()
    started = not running or owned
    try:
        if not running:
            stack.up()
        yield started
    finally:
        if started and not keep_up:
            try:
                stack.down()
            except Exception as exc:
                print(f"could not take the stack down ({exc}); run `sentinel-lab down`", file=sys.stderr)
