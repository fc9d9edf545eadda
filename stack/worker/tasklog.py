"""Times every task (prerun → postrun) and logs one line per finished task with ``status`` and
``duration_ms``, the fields the lab's log readers keep; every line a task logs carries its id as
``request_id`` and its tenant when it has one. Other observers (the P6 metrics) add a hook.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

from celery import signals

from stack import jsonlog
from stack.worker.app import INCIDENT_CREATED, TENANT_REPORT

log = logging.getLogger("stack.worker.tasklog")

#: called with (task name, final state, seconds) after each task, in the process that ran it
on_finished: list[Callable[[str, str, float], None]] = []

_started: dict[str, float] = {}
_LEVEL = {"SUCCESS": logging.INFO, "RETRY": logging.WARNING}  # failures: Celery logs them at ERROR already


def tenant_of(task_name: str, args) -> int | None:
    """The tenant a task works for, from its arguments."""
    if task_name == INCIDENT_CREATED and len(args or ()) >= 2:
        return args[1]
    if task_name == TENANT_REPORT and args:
        return args[0]
    return None


@signals.task_prerun.connect
def _prerun(task_id=None, task=None, args=None, **_):
    jsonlog.request_id.set(task_id)
    jsonlog.tenant.set(tenant_of(task.name, args))
    _started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _postrun(task_id=None, task=None, state=None, **_):
    began = _started.pop(task_id, None)
    if began is not None:
        seconds = time.perf_counter() - began
        log.log(_LEVEL.get(state, logging.WARNING), "task %s finished: %s", task.name, state,
                extra={"task": task.name, "status": state, "duration_ms": round(seconds * 1000, 3)})
        for hook in on_finished:
            hook(task.name, state, seconds)
    jsonlog.request_id.set(None)
    jsonlog.tenant.set(None)
