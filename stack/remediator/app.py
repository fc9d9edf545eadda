"""HTTP face of the remediator: Alertmanager's webhook, a token-guarded action endpoint for n8n, the audit."""
from __future__ import annotations

import logging
import os
import secrets
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from pydantic import BaseModel, Field

from stack.remediator.actions import ActionRefused, default_actions
from stack.remediator.policy import DEFAULT_POLICY, Policy

log = logging.getLogger("remediator")
DECISIONS = Counter("remediator_decisions", "Alerts handled, by action and outcome", ["action", "outcome"])
MODES = ("off", "dry-run", "on")


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
    params: dict[str, str] = Field(default_factory=dict)
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
    mode = env.get("REMEDIATOR_MODE", "dry-run")
    if mode not in MODES:
        raise ValueError(f"REMEDIATOR_MODE={mode!r}: choose one of {', '.join(MODES)}")
    actions = default_actions(env.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    policy = Policy.load(Path(env.get("REMEDIATOR_POLICY", DEFAULT_POLICY)), set(actions))
    token = env.get("REMEDIATOR_TOKEN")
    log_file = env.get("LOG_FILE")
    audit = Audit(Path(log_file).with_name("remediator-audit.jsonl") if log_file else None)
    app = FastAPI(title="Sentinel remediator", description=__doc__)

    async def act(source: str, alertname: str, action: str, params: dict[str, str], why: str) -> dict:
        outcome, detail = "skipped", f"mode is {mode}"
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
                           mode=mode, outcome=outcome, detail=detail)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "mode": mode, "actions": sorted(actions)}

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/alerts")
    async def alerts(notification: Notification) -> dict:
        """Alertmanager webhook: each firing alert gets the action its policy names, or is only recorded."""
        done = []
        for alert in notification.alerts:
            if alert.status != "firing":
                continue
            name = alert.labels.get("alertname", "")
            rule, why = policy.decide(name)
            done.append(await act("alertmanager", name, rule.action, rule.params, why))
        return {"handled": done}

    @app.post("/actions/{name}")
    async def run_action(name: str, body: ActionRequest, request: Request,
                         authorization: str | None = Header(default=None)) -> dict:
        """For automation (n8n): run one allow-listed action by name. Never a command."""
        if not token:
            raise HTTPException(404, "direct actions are disabled: set REMEDIATOR_TOKEN to enable them")
        if not authorization or not secrets.compare_digest(authorization, f"Bearer {token}"):
            raise HTTPException(401, "missing or wrong bearer token")
        if name not in actions:
            audit.write(source="api", alert="", action=name, params=body.params, why=body.reason,
                        mode=mode, outcome="refused", detail="not allow-listed")
            raise HTTPException(403, f"{name!r} is not an allow-listed action; allowed: {', '.join(sorted(actions))}")
        entry = await act("api", "", name, body.params, body.reason)
        if entry["outcome"] == "refused":
            raise HTTPException(422, entry["detail"])
        return entry

    @app.get("/audit")
    async def recent() -> list[dict]:
        return list(audit.recent)

    return app
