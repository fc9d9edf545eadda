"""Locust glue shared by the locustfiles: workload knobs and the per-request log.

Knobs are Locust options, so each comes from the command line (``--write-share 0.2``)
or the environment (``LOCUST_WRITE_SHARE=0.2``) and is never edited in a file.
Every request is appended to ``$LAB_REQUESTS_FILE`` (CSV: timestamp, type, name,
response_time_ms, success, intended_ms — the latency from an open-loop request's intended start,
empty otherwise) so the lab has each run's per-request latencies, which Locust's own CSVs do not
give. Under ``--processes`` each worker writes its own ``$LAB_REQUESTS_FILE.<pid>``. At exit the final per-endpoint
stats and failures go to ``$LAB_FINAL_STATS_stats.csv`` / ``_failures.csv``: Locust's
periodic ``--csv`` files can miss the last second of a run.
"""
from __future__ import annotations

import csv
import os
import time

from locust import events
from locust.runners import WorkerRunner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

REQUESTS_FILE_ENV = "LAB_REQUESTS_FILE"
FINAL_STATS_ENV = "LAB_FINAL_STATS"
GO_FILE_ENV = "LAB_GO_FILE"  # the gate a lab run opens (analysis/load.py: Launched.go)
GO_TIMEOUT_S = 600
REQUESTS_COLUMNS = ("timestamp", "type", "name", "response_time_ms", "success", "intended_ms")


@events.init_command_line_parser.add_listener
def _workload_knobs(parser):
    parser.add_argument("--zipf-s", type=float, env_var="LOCUST_ZIPF_S", default=1.1,
                        help="Zipf exponent of tenant/user/claim popularity (0 = uniform)")
    parser.add_argument("--seed", type=int, env_var="LOCUST_SEED", default=0,
                        help="random seed of the popularity draws (0 = a fresh seed per run)")


class PerProcess:
    """A value built once per Locust process from its parsed options, at Locust's init event
    (the seeded population, the dataset): ``holder.value``."""

    def __init__(self, build):
        self.build, self.value = build, None
        events.init.add_listener(self._init)

    def _init(self, environment, **_):
        if environment.parsed_options is not None:  # None for --list and the like
            self.value = self.build(environment.parsed_options)


class RequestLog:
    """Appends one CSV row per completed request; cheap enough to leave on in every run."""

    def __init__(self, path: str):
        self._file = open(path, "w", newline="", buffering=1 << 16)
        self._writer = csv.writer(self._file)
        self._writer.writerow(REQUESTS_COLUMNS)

    def on_request(self, request_type, name, response_time, exception=None, context=None, **_):
        now = time.time()
        intended = (context or {}).get("intended")
        self._writer.writerow((f"{now:.6f}", request_type, name, f"{response_time:.3f}", int(exception is None),
                               f"{(now - intended) * 1000:.3f}" if intended else ""))

    def close(self, **_):
        self._file.close()


def _write_final_stats(environment, prefix: str) -> None:
    writer = StatsCSV(environment, PERCENTILES_TO_REPORT)
    for suffix, write in (("stats", writer.requests_csv), ("failures", writer.failures_csv)):
        with open(f"{prefix}_{suffix}.csv", "w", newline="") as f:
            write(csv.writer(f))


@events.init.add_listener
def _await_go(environment, **_):
    """Held at the gate: the lab may start Locust before the stack is ready for it (its imports overlap
    the lab's resets and snapshots); the test begins once the lab creates ``LAB_GO_FILE``. Workers
    are driven by their master, which waits."""
    path = os.environ.get(GO_FILE_ENV)
    if not path or isinstance(environment.runner, WorkerRunner):
        return
    deadline = time.monotonic() + GO_TIMEOUT_S
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise SystemExit(f"the lab never opened the gate {path} in {GO_TIMEOUT_S} s; nothing was run")
        time.sleep(0.01)


@events.init.add_listener
def _request_log(environment, **_):
    """Hooked on ``quit``, which fires once the users have stopped, so nothing is left out."""
    path, prefix = os.environ.get(REQUESTS_FILE_ENV), os.environ.get(FINAL_STATS_ENV)
    worker = isinstance(environment.runner, WorkerRunner)
    if worker:  # the master aggregates the stats; each worker logs its own requests
        path, prefix = path and f"{path}.{os.getpid()}", None
    if path:
        log = RequestLog(path)
        environment.events.request.add_listener(log.on_request)
        environment.events.quit.add_listener(log.close)
    if prefix:
        environment.events.quit.add_listener(lambda **_: _write_final_stats(environment, prefix))
