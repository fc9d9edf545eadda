"""CPU and memory of each service while load runs: which one saturates first.

Every second, for each service of the stack with a process id (the local stack's supervisord
knows them), the CPU (percent of one core) and resident memory of its process tree — Postgres's
backends and uvicorn's workers are children of the process supervisord started. A compose stack
gives no host pids: the frame is then empty and a capacity report says the resource view was
not measured.
"""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import pandas as pd
import psutil

COLUMNS = ["timestamp", "service", "cpu_percent", "rss_bytes"]


class ResourceSampler:
    """``start()`` before the load, ``stop()`` after it: a tidy frame of per-service samples."""

    def __init__(self, pids: dict[str, int], interval_s: float = 1.0):
        self.pids, self.interval_s = pids, interval_s
        self.rows: list[tuple] = []
        self._procs: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="resource-sampler")

    def start(self) -> "ResourceSampler":
        self._sample(record=False)  # the first reading of each process only starts its CPU clock
        self._thread.start()
        return self

    def stop(self) -> pd.DataFrame:
        self._stop.set()
        self._thread.join(timeout=5)
        frame = pd.DataFrame(self.rows, columns=COLUMNS)
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
        return frame

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample(record=True)

    def _tree(self, pid: int) -> list[psutil.Process]:
        try:
            root = psutil.Process(pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def _sample(self, record: bool) -> None:
        now = datetime.now(timezone.utc)
        for service, pid in self.pids.items():
            cpu, rss = 0.0, 0
            for proc in self._tree(pid):
                known = self._procs.setdefault(proc.pid, proc)
                try:
                    cpu += known.cpu_percent(None)
                    rss += known.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    self._procs.pop(proc.pid, None)
            if record:
                self.rows.append((now, service, cpu, rss))


def service_pids(statuses) -> dict[str, int]:
    """{service: pid} of the running services that have one (a stack's ``status()``)."""
    return {s.name: s.pid for s in statuses if getattr(s, "pid", None)}
