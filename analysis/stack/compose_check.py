"""The first-start checks for a compose stack, walked live: `sentinel-lab up --stack compose --check`.

The lab's own machines have no Docker engine, so the compose stack's configs are checked there
statically and by running the same programs on them (tests/unit/test_compose_behaviour.py). What
only a running stack can show is checked here: every container healthy, every Prometheus target
up, an alert routed to both the remediator and n8n, a log line in Loki and as a Prometheus metric
through Alloy, Grafana refusing anonymous access. Each check is a function of plain URLs, so the
ones that also make sense for the local stack are tested against it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Protocol

import httpx

#: the test alert the routing check fires; its labels route like any alert
CHECK_ALERT = "LabComposeCheck"
#: who must receive every alert in compose (alertmanager.yml.j2)
COMPOSE_RECEIVERS = frozenset({"remediator", "n8n"})


class _Stack(Protocol):
    def status(self) -> list: ...


@dataclass(frozen=True)
class Check:
    """One check's outcome: what was checked, whether it passed, what was seen."""

    name: str
    ok: bool
    detail: str


def _checked(name: str, fn: Callable[[], str]) -> Check:
    """Run ``fn``; its return value is the detail of a pass, an exception the detail of a failure."""
    try:
        return Check(name, True, fn())
    except Exception as exc:  # every check reports, none stops the others
        return Check(name, False, f"{type(exc).__name__}: {exc}" if not isinstance(exc, AssertionError) else str(exc))


def services_healthy(stack: _Stack) -> Check:
    def run() -> str:
        statuses = stack.status()
        bad = [f"{s.name} {s.state} ({s.detail})" for s in statuses if s.state != "healthy"]
        assert not bad, "not healthy: " + "; ".join(bad)
        return f"{len(statuses)} services healthy"
    return _checked("every service healthy", run)


def targets_up(prometheus: str) -> Check:
    def run() -> str:
        r = httpx.get(f"{prometheus}/api/v1/targets", params={"state": "active"}, timeout=10)
        r.raise_for_status()
        targets = r.json()["data"]["activeTargets"]
        down = [f"{t['labels'].get('job')} {t['scrapeUrl']}: {t.get('lastError') or t['health']}"
                for t in targets if t["health"] != "up"]
        assert targets, "Prometheus has no active target"
        assert not down, "down: " + "; ".join(down)
        return f"{len(targets)} targets up"
    return _checked("every Prometheus target up", run)


def alert_routed(alertmanager: str, receivers: Iterable[str], timeout_s: float = 15.0) -> Check:
    """Fire a short-lived test alert and read which receivers Alertmanager grouped it under."""
    want = set(receivers)

    def run() -> str:
        now = datetime.now(timezone.utc)
        alert = {"labels": {"alertname": CHECK_ALERT, "severity": "info", "service": "lab-check"},
                 "annotations": {"summary": "sentinel-lab up --check: routing test, no action needed"},
                 "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=2)).isoformat()}
        httpx.post(f"{alertmanager}/api/v2/alerts", json=[alert], timeout=10).raise_for_status()
        deadline, seen = time.monotonic() + timeout_s, set()
        while time.monotonic() < deadline:
            r = httpx.get(f"{alertmanager}/api/v2/alerts/groups",
                          params={"filter": f'alertname="{CHECK_ALERT}"'}, timeout=10)
            r.raise_for_status()
            seen = {g["receiver"]["name"] for g in r.json() if g["alerts"]}
            if seen >= want:
                break
            time.sleep(0.5)
        assert seen == want, f"{CHECK_ALERT} reached {sorted(seen) or 'no receiver'}; expected {sorted(want)}"
        return f"{CHECK_ALERT} routed to {', '.join(sorted(seen))}"
    return _checked("an alert reaches " + " and ".join(sorted(want)), run)


def log_line_in_loki(loki: str, service: str = "api", window: timedelta = timedelta(minutes=15)) -> Check:
    def run() -> str:
        end = datetime.now(timezone.utc)
        r = httpx.get(f"{loki}/loki/api/v1/query_range", timeout=10, params={
            "query": f'{{service="{service}"}}', "limit": 1, "direction": "backward",
            "start": str(int((end - window).timestamp() * 1e9)), "end": str(int(end.timestamp() * 1e9))})
        r.raise_for_status()
        lines = sum(len(s["values"]) for s in r.json()["data"]["result"])
        assert lines, f"no {service} log line in Loki over the last {window}: is Alloy shipping the logs volume?"
        return f"{service} log lines reach Loki"
    return _checked("a log line in Loki", run)


def log_metric_in_prometheus(prometheus: str, service: str = "api") -> Check:
    """Alloy's counter under the local stack's name, with the service's own label (honor_labels)."""
    def run() -> str:
        r = httpx.get(f"{prometheus}/api/v1/query", params={"query": "sum by (service) (sentinel_log_lines_total)"},
                      timeout=10)
        r.raise_for_status()
        services = {s["metric"].get("service") for s in r.json()["data"]["result"]}
        assert services, "no sentinel_log_lines_total in Prometheus: is Alloy scraped, and its metric prefix right?"
        assert service in services, f"sentinel_log_lines_total has service={sorted(map(str, services))}, no {service}"
        return f"sentinel_log_lines_total by service: {', '.join(sorted(map(str, services)))}"
    return _checked("log lines counted in Prometheus through Alloy", run)


def grafana_refuses_anonymous(grafana: str) -> Check:
    def run() -> str:
        r = httpx.get(f"{grafana}/api/search", timeout=10)
        assert r.status_code == 401, f"GET /api/search without credentials answered {r.status_code}"
        return "anonymous GET /api/search: 401"
    return _checked("Grafana refuses anonymous access", run)


def compose_checks(stack: _Stack, url: Callable[[str], str]) -> list[Check]:
    """Every first-start check of a running compose stack, in the order a person would fix them."""
    return [
        services_healthy(stack),
        targets_up(url("prometheus")),
        alert_routed(url("alertmanager"), COMPOSE_RECEIVERS),
        log_line_in_loki(url("loki")),
        log_metric_in_prometheus(url("prometheus")),
        grafana_refuses_anonymous(url("grafana")),
    ]
