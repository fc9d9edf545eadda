"""P3's dispatch latency through n8n, next to the direct path, on a running local stack with LAB_N8N=1.

Each trial posts one alert, under a name of its own, to Alertmanager's API. Alertmanager notifies both
receivers of the same group at once: the remediator (``/alerts``, the direct path) and n8n's webhook,
whose workflow asks the model at ``OLLAMA_URL``, maps the answer onto the allow-list and calls the
remediator's ``/actions/<name>``. A path's dispatch latency is the time from the post to the remediator's
audit entry for that path; ``group_wait`` is in both, so the per-trial difference is what n8n adds.

The probe alerts are the lab's own traffic: their names start with :data:`PROBE_PREFIX`, no policy rule
matches them (both paths end in ``record_only``: nothing is restarted) and a study counting incidents
must leave them out. No Ollama runs locally: whatever listens at ``settings.url("ollama")`` answers the
workflow (nothing: the call fails fast and the workflow records only), and the result says which.
"""
from __future__ import annotations

import argparse
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone

import httpx
import numpy as np

from analysis.settings import Settings
from analysis.stack import n8n

#: alert names of the lab's dispatch probes; never an incident of the workload
PROBE_PREFIX = "LabDispatchProbe"


@dataclass(frozen=True)
class DispatchTrial:
    alertname: str
    direct_s: float | None  # Alertmanager → remediator; None: no audit entry within the timeout
    n8n_s: float | None  # Alertmanager → n8n → model → decision → remediator
    n8n_decision: str = ""  # the workflow's reason, as the remediator audited it


@dataclass(frozen=True)
class PathLatency:
    """One path's latencies over the trials that reached the remediator (``missing``: those that did not)."""

    n: int
    missing: int
    median_s: float | None
    p90_s: float | None

    @classmethod
    def of(cls, values: list[float | None]) -> "PathLatency":
        seen = np.array([v for v in values if v is not None], dtype=float)
        if not seen.size:
            return cls(0, len(values), None, None)
        return cls(int(seen.size), len(values) - int(seen.size), float(np.median(seen)),
                   float(np.quantile(seen, 0.9)))


@dataclass(frozen=True)
class DispatchLatency:
    """The measurement: per-trial figures, each path's summary and what n8n adds (paired per trial)."""

    trials: list[DispatchTrial]
    model: str
    direct: PathLatency = field(init=False)
    n8n: PathLatency = field(init=False)
    n8n_added: PathLatency = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "direct", PathLatency.of([t.direct_s for t in self.trials]))
        object.__setattr__(self, "n8n", PathLatency.of([t.n8n_s for t in self.trials]))
        added = [t.n8n_s - t.direct_s if t.n8n_s is not None and t.direct_s is not None else None
                 for t in self.trials]
        object.__setattr__(self, "n8n_added", PathLatency.of(added))

    @property
    def measured(self) -> bool:
        """False (not measured) unless every trial reached the remediator by both paths."""
        return bool(self.trials) and self.direct.missing == 0 and self.n8n.missing == 0

    def to_json(self) -> dict:
        return {**asdict(self), "measured": self.measured}


class DispatchError(RuntimeError):
    """The measurement could not run; the message says what to start or install."""


def _audit(client: httpx.Client, settings: Settings) -> list[dict]:
    r = client.get(f"{settings.url('remediator')}/audit")
    r.raise_for_status()
    return r.json()


def _seconds_after(entry: dict, start: datetime) -> float:
    return (datetime.fromisoformat(entry["timestamp"]) - start).total_seconds()


def _alert(name: str, starts: datetime, ends: datetime) -> dict:
    return {"labels": {"alertname": name, "service": "lab-probe", "severity": "info"},
            "annotations": {"summary": "Sentinel Lab dispatch probe: not an incident"},
            "startsAt": starts.isoformat(), "endsAt": ends.isoformat()}


def _trial(client: httpx.Client, settings: Settings, timeout_s: float) -> DispatchTrial:
    name = f"{PROBE_PREFIX}{secrets.token_hex(4)}"
    start = datetime.now(timezone.utc)
    client.post(f"{settings.url('alertmanager')}/api/v2/alerts",
                json=[_alert(name, start, start + timedelta(minutes=10))]).raise_for_status()
    direct = via_n8n = None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and (direct is None or via_n8n is None):
        time.sleep(0.05)
        for entry in _audit(client, settings):
            if entry.get("source") == "alertmanager" and entry.get("alert") == name:
                direct = direct or entry
            elif entry.get("source") == "api" and str(entry.get("why", "")).startswith(f"{name}: "):
                via_n8n = via_n8n or entry
    # resolve the probe alert so Alertmanager does not repeat it into a later study
    client.post(f"{settings.url('alertmanager')}/api/v2/alerts",
                json=[_alert(name, start, datetime.now(timezone.utc))]).raise_for_status()
    return DispatchTrial(name, _seconds_after(direct, start) if direct else None,
                         _seconds_after(via_n8n, start) if via_n8n else None,
                         str(via_n8n.get("why", ""))[len(name) + 2:] if via_n8n else "")


def _model_answering(client: httpx.Client, settings: Settings) -> str:
    try:
        version = client.get(f"{settings.url('ollama')}/api/version", timeout=2).json().get("version", "?")
    except (httpx.HTTPError, ValueError):
        return f"none: nothing answers at {settings.url('ollama')}, the workflow's model call fails fast"
    return f"whatever answers at {settings.url('ollama')} (reports version {version}); no Ollama runs locally"


def _wait_for_webhook(client: httpx.Client, settings: Settings, timeout_s: float) -> None:
    """Until the workflow's webhook is registered: n8n answers before its launcher has activated it."""
    deadline = time.monotonic() + timeout_s
    while True:
        r = client.get(n8n.webhook_url(settings))  # a registered POST webhook says so to a GET
        if "not registered for GET" in r.text:
            return
        if time.monotonic() > deadline:
            raise DispatchError(f"n8n's webhook {n8n.webhook_url(settings)} is not registered after {timeout_s:.0f} s "
                                f"(is the P3 workflow active? see the n8n log): {r.text[:200]}")
        time.sleep(0.5)


def ready(settings: Settings, ready_timeout_s: float = 120.0) -> str:
    """Once n8n answers and the workflow's webhook is registered (waiting up to ``ready_timeout_s``): who
    answers the workflow's model calls. Raises :class:`DispatchError` when n8n is off, does not answer or
    has no active webhook: then the n8n path is not measured."""
    if not settings.n8n:
        raise DispatchError("n8n is off: start the local stack with LAB_N8N=1 (after stack/local/install-n8n.sh)")
    with httpx.Client(timeout=10) as client:
        try:
            client.get(f"{settings.url('n8n')}/healthz").raise_for_status()
        except httpx.HTTPError as exc:
            raise DispatchError(f"n8n does not answer at {settings.url('n8n')} ({exc}); "
                                "is the local stack up with LAB_N8N=1?") from exc
        _wait_for_webhook(client, settings, ready_timeout_s)
        return _model_answering(client, settings)


def measure_dispatch(settings: Settings, trials: int = 10, timeout_s: float = 30.0,
                     ready_timeout_s: float = 120.0) -> DispatchLatency:
    """Dispatch latency of the direct and the n8n path over ``trials`` probe alerts, one at a time.

    Needs a running local stack with LAB_N8N=1 (n8n, Alertmanager, the remediator); see :func:`ready`.
    """
    model = ready(settings, ready_timeout_s)
    with httpx.Client(timeout=10) as client:
        return DispatchLatency([_trial(client, settings, timeout_s) for _ in range(trials)], model)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m analysis.n8n_path", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10, help="probe alerts, one at a time (default 10)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each audit entry")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    try:
        result = measure_dispatch(settings, args.trials, args.timeout)
    except DispatchError as exc:
        raise SystemExit(f"not measured: {exc}")
    print(json.dumps(result.to_json(), indent=2))


if __name__ == "__main__":
    main()
