"""Locust glue shared by the locustfiles: workload knobs and the per-request log.

Knobs are Locust options, so each comes from the command line (``--write-share 0.2``)
or the environment (``LOCUST_WRITE_SHARE=0.2``) and is never edited in a file.
Every request is appended to ``$LAB_REQUESTS_FILE`` (CSV: timestamp, type, name,
response_time_ms, success) so the lab can pool per-request latencies for bootstrap
confidence intervals, which Locust's own CSVs do not give.
"""
from __future__ import annotations

import csv
import os
import time

from locust import events

REQUESTS_FILE_ENV = "LAB_REQUESTS_FILE"
REQUESTS_COLUMNS = ("timestamp", "type", "name", "response_time_ms", "success")


@events.init_command_line_parser.add_listener
def _workload_knobs(parser):
    parser.add_argument("--zipf-s", type=float, env_var="LOCUST_ZIPF_S", default=1.1,
                        help="Zipf exponent of tenant/user/claim popularity (0 = uniform)")
    parser.add_argument("--seed", type=int, env_var="LOCUST_SEED", default=0,
                        help="random seed of the popularity draws (0 = a fresh seed per run)")


class RequestLog:
    """Appends one CSV row per completed request; cheap enough to leave on in every run."""

    def __init__(self, path: str):
        self._file = open(path, "w", newline="", buffering=1 << 16)
        self._writer = csv.writer(self._file)
        self._writer.writerow(REQUESTS_COLUMNS)

    def on_request(self, request_type, name, response_time, exception=None, **_):
        self._writer.writerow((f"{time.time():.6f}", request_type, name, f"{response_time:.3f}",
                               int(exception is None)))

    def close(self, **_):
        self._file.close()


@events.init.add_listener
def _request_log(environment, **_):
    path = os.environ.get(REQUESTS_FILE_ENV)
    if path:
        log = RequestLog(path)
        environment.events.request.add_listener(log.on_request)
        environment.events.quitting.add_listener(log.close)
