"""HTTP face of the remediator: Alertmanager's webhook, a token-guarded action endpoint for n8n, the audit.

Both endpoints need a bearer token: ``/alerts`` Alertmanager's (read from the 0600 file
``REMEDIATOR_ALERT_TOKEN_FILE``, the same file alertmanager.yml's ``credentials_file`` names),
``/actions`` n8n's (``REMEDIATOR_TOKEN``). Every refusal is audited like every decision.
"""
from __future__ import annotations

import logging
import os
import secrets
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from pydantic import BaseModel, Field

from stack.envconfig import cache_redis_url
from stack.remediator.actions import ActionRefused, default_actions
from stack.remediator.guard import Guard, Verdict, episode_key
from stack.remediator.policy import DEFAULT_POLICY, Policy, Rule
from stack.toggle_spec import TOGGLES

log = logging.getLogger("remediator")
DECISIONS = Counter("remediator_decisions", "Alerts handled, by action and outcome", ["action", "outcome"])
MAX_BODY_BYTES = 1 << 20  # a webhook larger than this is refused (413, audited) before it is parsed
#: every decision's outcome in the audit trail
OUTCOMES = ("done", "skipped", "refused", "failed", "escalated")


class Alert(BaseModel):
    status: str
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str | None = None
    fingerprint: str | None = None


class Notification(BaseModel):
    """Alertmanager's webhook payload (version 4); only the fields the remediator reads."""
    version: str = "4"
    status: str
    alerts: list[Alert] = Field(max_length=500)


class ActionRequest(BaseModel):
    """``params`` must be exactly those of a policy rule for the action: the policy fixes them, not the caller."""
    params: dict[str, str] = Field(default_factory=dict, max_length=20)
    reason: str = Field(default="", max_length=500)


class Audit:
    """Append-only JSON lines: every decision, acted on or not, with its outcome."""

    def __init__(self, path: Path | None):
        self.path = path
        self.recent: deque[dict] = deque(maxlen=200)

    def write(self, **entry: Any) -> dict:
        entry = {"timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **entry}
        self.recent.append(entry)
        if self.path:
            with open(self.path, "ab") as f:
                f.write(orjson.dumps(entry) + b"\n")
        return entry


def create_app(env: dict[str, str] | None = None) -> FastAPI:
    env = dict(os.environ if env is None else env)
    mode = TOGGLES["REMEDIATOR_MODE"].read(env)
    actions = default_actions(cache_redis_url(env) or "redis://127.0.0.1:6379/0", env.get("SUPERVISOR_SOCK"))
    policy = Policy.load(Path(env.get("REMEDIATOR_POLICY", DEFAULT_POLICY)), set(actions),
                         TOGGLES["REMEDIATOR_COOLDOWN_S"].read(env))
    guard = Guard(policy, TOGGLES["REMEDIATOR_BUDGET_PER_H"].read(env))
    token = env.get("REMEDIATOR_TOKEN")
    alert_token = _read_token(env.get("REMEDIATOR_ALERT_TOKEN_FILE"))
    log_file = env.get("LOG_FILE")
    audit = Audit(Path(log_file).with_name("remediator-audit.jsonl") if log_file else None)
    app = FastAPI(title="Sentinel remediator", description=__doc__)

    def refuse(status: int, source: str, detail: str, action: str = "", params: dict | None = None,
               why: str = "") -> HTTPException:
        DECISIONS.labels(action or "none", "refused").inc()
        log.warning("remediation refused (%s): %s", source, detail)
        audit.write(source=source, alert="", action=action, params=params or {}, why=why, mode=mode,
                    outcome="refused", detail=detail)
        return HTTPException(status, detail)

    async def alertmanager_only(request: Request, authorization: str | None = Header(default=None)) -> None:
        """Runs before the body is parsed, so a forged alert is refused (401) whatever it holds, and an
        oversized one (413) before it costs more than its bytes."""
        if not alert_token:
            raise refuse(401, "alertmanager", "alerts are refused: REMEDIATOR_ALERT_TOKEN_FILE names no token file")
        if not _bearer_matches(authorization, alert_token):
            raise refuse(401, "alertmanager", "missing or wrong bearer token")
        declared = request.headers.get("content-length", "")
        if (declared.isdigit() and int(declared) > MAX_BODY_BYTES) or len(await request.body()) > MAX_BODY_BYTES:
            raise refuse(413, "alertmanager", f"webhook body over {MAX_BODY_BYTES} bytes")

    async def act(source: str, alertname: str, action: str, params: dict[str, str], why: str, **alert: Any) -> dict:
        outcome, detail = "skipped", f"mode is {mode}"
        started = time.monotonic()
        started_at = _now()
        if mode == "on":
            try:
                detail = await actions[action].run(params)
                outcome = "done"
            except ActionRefused as exc:
                outcome, detail = "refused", str(exc)
            except Exception as exc:  # an action that failed is audited, never hidden
                outcome, detail = "failed", f"{type(exc).__name__}: {exc}"
        DECISIONS.labels(action, outcome).inc()
        log.info("remediation %s %s: %s", action, outcome, detail)
        return audit.write(source=source, alert=alertname, action=action, params=params, why=why,
                           mode=mode, outcome=outcome, detail=detail, started_at=started_at,
                           finished_at=_now(), act_ms=round((time.monotonic() - started) * 1000, 1), **alert)

    def record(source: str, alertname: str, rule: Rule, outcome: str, why: str, **alert: Any) -> dict:
        """A decision that runs nothing (skipped by cooldown, escalated): audited like an action."""
        DECISIONS.labels(rule.action, outcome).inc()
        log.log(logging.WARNING if outcome == "escalated" else logging.INFO, "remediation %s %s: %s",
                rule.action, outcome, why)
        return audit.write(source=source, alert=alertname, action=rule.action, params=rule.params, why=why,
                           mode=mode, outcome=outcome, detail=why, **alert)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "mode": mode, "actions": sorted(actions)}

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/alerts", dependencies=[Depends(alertmanager_only)])
    async def alerts(notification: Notification) -> dict:
        """Alertmanager webhook: each firing alert gets the action its policy names, or is only recorded."""
        done, received_at = [], _now()
        for alert in notification.alerts:
            if alert.status != "firing":
                continue
            name = alert.labels.get("alertname", "")
            episode = episode_key(alert.fingerprint, alert.labels, alert.startsAt)
            about = {"fingerprint": episode.split("@")[0], "episode": episode, "starts_at": alert.startsAt,
                     "received_at": received_at}
            rule = policy.rules.get(name)
            if rule is None or rule.action == "record_only":
                done.append(await act("alertmanager", name, "record_only", {},
                                      "no rule for this alert" if rule is None else "policy rule", **about))
                continue
            decision = guard.decide(episode, rule)
            if decision.verdict is Verdict.ACT:
                done.append(await act("alertmanager", name, rule.action, rule.params, decision.why, **about))
                guard.finished(episode)
            else:
                outcome = "escalated" if decision.verdict is Verdict.ESCALATE else "skipped"
                done.append(record("alertmanager", name, rule, outcome, decision.why, **about))
        return {"handled": done}

    @app.post("/actions/{name}")
    async def run_action(name: str, body: ActionRequest, authorization: str | None = Header(default=None)) -> dict:
        """For automation (n8n): run one rule the policy fixes, by action name, under the policy's cooldown."""
        if not token:
            raise refuse(404, "api", "direct actions are disabled: set REMEDIATOR_TOKEN to enable them", name,
                         body.params, body.reason)
        if not _bearer_matches(authorization, token):
            raise refuse(401, "api", "missing or wrong bearer token", name, body.params, body.reason)
        if name not in actions:
            raise refuse(403, "api", f"{name!r} is not an allow-listed action; allowed: {', '.join(sorted(actions))}",
                         name, body.params, body.reason)
        rule = policy.fixed(name, body.params)
        if rule is None:
            fixed = policy.allowed(name)
            raise refuse(422, "api", f"{name} with {body.params} is not a rule of the policy; the policy fixes "
                         + (f"its parameters to one of {fixed}" if fixed else "no rule for it"),
                         name, body.params, body.reason)
        spent = guard.spent(rule, time.monotonic())
        if rule.action != "record_only" and spent >= guard.budget_per_h:
            record("api", "", rule, "escalated", f"budget spent: {spent} actions in the last hour; page a person")
            raise HTTPException(429, f"{name}: budget of {guard.budget_per_h} actions an hour spent; page a person")
        cooling = policy.take(rule)
        if cooling:
            raise refuse(429, "api", f"{name} {cooling}", name, body.params, body.reason)
        if rule.action != "record_only":
            guard.charge(rule)
        entry = await act("api", "", name, rule.params, body.reason)
        if entry["outcome"] == "refused":
            raise HTTPException(422, entry["detail"])
        return entry

    @app.get("/audit")
    async def recent() -> list[dict]:
        return list(audit.recent)

    return app


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _read_token(path: str | None) -> str | None:
    """The token in ``path`` (a 0600 file), or None when no file is named."""
    if not path:
        return None
    token = Path(path).read_text().strip()
    if not token:
        raise ValueError(f"{path} is empty: the remediator needs Alertmanager's bearer token in it")
    return token


def _bearer_matches(authorization: str | None, token: str) -> bool:
    return bool(authorization) and secrets.compare_digest(authorization.encode(), f"Bearer {token}".encode())
