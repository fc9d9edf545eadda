"""Alertmanager's deliveries: what reached a receiver, and when, scored beside the rules' firing.

A rule that fires is not yet an alert anyone sees: Alertmanager groups, waits and sends. While a
fault timeline plays, the lab runs ``Receiver``, a webhook on 127.0.0.1 that Alertmanager's lab
route sends to (with the bearer token from the 0600 file its ``credentials_file`` names), and that
records every alert of every notification with its arrival time. Each firing episode is matched to
the first notification that carried it (same rule set and rule, ``startsAt`` within the episode), so
recall, precision and time to notify are scored on what was delivered too, and an episode that
was never delivered is counted. A receiver that got nothing leaves the delivery scores unmeasured.
"""
from __future__ import annotations

import hmac
import json
import math
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd

from analysis import alerts

PATH = "/alerts"  # where alertmanager.yml's lab route posts
MAX_BODY = 1 << 20  # a notification larger than this is refused (413)
#: Prometheus sends an alert's ``startsAt`` as the moment it became pending: up to its ``for:`` (the
#: lab's longest is 3 s) plus an evaluation before the first firing sample
MATCH_SLACK_S = 5.0
WAIT_S = 4.0  # after the timeline: Alertmanager's group_wait (2 s) and a send, so a late alert can arrive
CHECKS = "deliveries_received"  # the per-run count that makes the delivery scores measured (> 0)
PROBE = "alert-deliveries"  # how a run's ``probe_errors`` name the receiver when nothing arrived
COLUMNS = ["received", "status", "ruleset", "alertname", "starts_at", "fingerprint"]


@dataclass(frozen=True)
class Delivery:
    """One alert of one notification, as it arrived."""

    received: datetime
    status: str  # "firing" | "resolved"
    ruleset: str
    alertname: str
    starts_at: datetime | None
    fingerprint: str


class Receiver:
    """Alertmanager's webhook for the lab, in a thread of the lab's process while a timeline plays.
    Refuses (401) a request without the token, (400) one that is not a notification; never crashes."""

    def __init__(self, host: str, port: int, token: str):
        self.deliveries: list[Delivery] = []
        self.refused = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="alert-receiver")
        self._token = token

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def frame(self) -> pd.DataFrame:
        with self._lock:
            return frame(self.deliveries)

    def _record(self, body: bytes) -> int:
        try:
            doc = json.loads(body)
            received = datetime.now(timezone.utc)
            got = [Delivery(received, a["status"], a.get("labels", {}).get("ruleset", ""),
                            a.get("labels", {}).get("alertname", ""), _time(a.get("startsAt")),
                            a.get("fingerprint", "")) for a in doc["alerts"]]
        except (ValueError, KeyError, TypeError, AttributeError):
            return 400
        with self._lock:
            self.deliveries.extend(got)
        return 200

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                length = int(self.headers.get("Content-Length") or 0)
                expected = f"Bearer {receiver._token}".encode()
                if not hmac.compare_digest(self.headers.get("Authorization", "").encode(), expected):
                    with receiver._lock:
                        receiver.refused += 1
                    return self._answer(401, "missing or wrong bearer token")
                if self.path != PATH or length > MAX_BODY:
                    return self._answer(404 if self.path != PATH else 413, "post a notification to " + PATH)
                status = receiver._record(self.rfile.read(length))
                self._answer(status, "recorded" if status == 200 else "not an Alertmanager notification")

            def _answer(self, status: int, text: str) -> None:
                body = json.dumps({"detail": text}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # the lab's stderr shows progress, not access lines
                pass

        return Handler


def why_empty(receiver: "Receiver") -> str:
    """The run's probe error when the receiver got nothing: the delivery scores are not measured."""
    refused = f"; it refused {receiver.refused} request(s) without the right token" if receiver.refused else ""
    return (f"probe {PROBE}: no notification reached the lab's receiver{refused}: check alertmanager.yml's "
            f"`lab` route and receiver, and Alertmanager's log")


def _time(text: str | None) -> datetime | None:
    if not text or text.startswith("0001-"):
        return None
    return pd.Timestamp(text).tz_convert("UTC").to_pydatetime()


def frame(deliveries: list[Delivery]) -> pd.DataFrame:
    rows = [asdict(d) for d in deliveries]
    out = pd.DataFrame(rows, columns=COLUMNS)
    for col in ("received", "starts_at"):
        out[col] = pd.to_datetime(out[col], utc=True)
    return out


def match(eps: pd.DataFrame, deliveries: pd.DataFrame, slack_s: float = MATCH_SLACK_S) -> pd.DataFrame:
    """``eps`` with ``notified``: when the first firing notification carrying the episode arrived
    (NaT: never delivered). A notification carries the episode whose span (``slack_s`` earlier, for
    the pending time) holds its ``startsAt``; of several, the earliest that has not ended before it."""
    out = eps.reset_index(drop=True).copy()
    out["notified"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns, UTC]")
    firing = deliveries[deliveries["status"] == "firing"].dropna(subset=["starts_at"]) if len(deliveries) else deliveries
    if not len(out) or not len(firing):
        return out
    slack = timedelta(seconds=slack_s)
    for i, e in out.iterrows():
        same = firing[(firing["ruleset"] == e["ruleset"]) & (firing["alertname"] == e["alertname"])]
        mine = same[(same["starts_at"] >= e["start"] - slack) & (same["starts_at"] <= e["end"])]
        later = out[(out["ruleset"] == e["ruleset"]) & (out["alertname"] == e["alertname"]) & (out["start"] > e["start"])]
        if len(later):  # a startsAt in the next episode's slack belongs to the next episode
            mine = mine[mine["starts_at"] < later["start"].min() - slack]
        if len(mine):
            out.loc[i, "notified"] = mine["received"].min()
    return out


def score(truth: pd.DataFrame, matched: pd.DataFrame, ruleset: alerts.RuleSet, t0: datetime) -> alerts.Score:
    """The rule set scored on its delivered episodes only, time to detect read as time to notify."""
    delivered = matched[matched["notified"].notna()] if len(matched) else matched
    return alerts.score(truth, delivered, ruleset, t0, detected_at="notified")


def undelivered(truth: pd.DataFrame, matched: pd.DataFrame, ruleset: alerts.RuleSet, t0: datetime) -> int:
    """The set's scored episodes that fired but never reached the receiver."""
    if not len(matched):
        return 0
    s = alerts.score(truth, matched, ruleset, t0)
    return int(s.episodes["notified"].isna().sum()) if "notified" in s.episodes else 0


def values(truth: pd.DataFrame, matched: pd.DataFrame, received: int, ruleset: alerts.RuleSet, t0: datetime,
           spec: alerts.Backtest | None = None) -> dict[str, tuple[float, str]]:
    """Per-run scalars: the delivery scores (``delivered_*``, ``ttn_*``), the episodes never delivered,
    and the receiver's count (the check); with no delivery at all only the count, so the rest is
    not measured rather than a perfect score."""
    out = {CHECKS: (float(received), "alerts")}
    if not received:
        return out
    s = score(truth, matched, ruleset, t0)
    scores = {"delivered_recall": (s.recall, "ratio"), "delivered_precision": (s.precision, "ratio"),
              "delivered_false_alerts": (s.false_alerts, "alerts"), "ttn_p50_s": (s.ttd(0.5), "s"),
              "ttn_p90_s": (s.ttd(0.9), "s"),
              "undelivered_alerts": (undelivered(truth, matched, ruleset, t0), "alerts")}
    if spec is not None and spec.min_recall is not None and len(s.windows):
        scores["delivered_recall_shortfall"] = (max(0.0, spec.min_recall - s.recall), "ratio")
    out.update({k: v for k, v in scores.items() if not (isinstance(v[0], float) and math.isnan(v[0]))})
    return out
