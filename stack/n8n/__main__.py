"""``python -m stack.n8n``: start n8n, claim its owner account, import and activate the P3 workflow.

Runs as the local stack's ``n8n`` program (LAB_N8N=1). n8n runs as a child. On a fresh database, as soon
as it answers, the owner account is claimed with the password in N8N_OWNER_PASSWORD_FILE (0600), so
nobody else can claim an unowned editor, and the workflow is created and activated through n8n's REST API
with the owner's session (each n8n CLI command would boot n8n once more: tens of seconds each here).
A database set up for another version of the workflow file is discarded first. SIGTERM/SIGINT are passed on.
"""
from __future__ import annotations

import hashlib
import http.cookiejar
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

STARTUP_TIMEOUT_S = 300.0
BROWSER_ID = "sentinel-lab-n8n-launcher"  # n8n binds its session cookie to this header


class Rest:
    """n8n's REST API with one session (cookie jar), as the owner once claimed."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def post(self, path: str, body: dict) -> dict:
        request = urllib.request.Request(f"{self.base}{path}", data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json", "browser-id": BROWSER_ID})
        try:
            with self.opener.open(request, timeout=30) as r:
                text = r.read()
        except urllib.error.HTTPError as exc:
            raise OSError(f"POST {path} → {exc.code}: {exc.read().decode(errors='replace')[:300]}") from exc
        try:
            return json.loads(text or b"{}").get("data") or {}
        except ValueError as exc:
            raise OSError(f"POST {path}: not JSON: {text[:200]!r}") from exc


def _wait_ready(base: str, server: subprocess.Popen) -> None:
    """Until n8n's REST API answers: it listens (and says migrated) before its controllers are routed."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while server.poll() is None:
        try:
            urllib.request.urlopen(f"{base}/healthz/readiness", timeout=2).close()  # migrated
            with urllib.request.urlopen(f"{base}/rest/settings", timeout=2) as r:
                json.loads(r.read())  # before that, a 200 with "n8n is starting up" as text
            return
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                raise OSError(f"n8n's REST API ({base}/rest/settings) did not answer within {STARTUP_TIMEOUT_S:.0f} s")
            time.sleep(0.2)
    raise OSError(f"n8n exited ({server.returncode}) before answering")


def _set_up(base: str, workflow: dict) -> None:
    """Claim the owner account, then create and activate ``workflow`` (n8n creates workflows inactive)."""
    rest = Rest(base)
    password = "Lab1-" + Path(os.environ["N8N_OWNER_PASSWORD_FILE"]).read_text().strip()  # a digit, a capital
    rest.post("/rest/owner/setup", {"email": os.environ["N8N_OWNER_EMAIL"], "firstName": "Sentinel",
                                    "lastName": "Lab", "password": password})
    body = {**{k: v for k, v in workflow.items() if k not in {"id", "pinData"}}, "active": False}
    created = rest.post("/rest/workflows", body)
    rest.post(f"/rest/workflows/{created['id']}/activate", {"versionId": created["versionId"]})
    print(f"n8n: owner claimed, workflow {workflow['name']!r} created and activated", flush=True)


def main() -> None:
    if not os.path.exists(os.environ["N8N_BIN"]):
        sys.exit(f"n8n is not installed ({os.environ['N8N_BIN']} is missing): run stack/local/install-n8n.sh "
                 "(about 6 min, 1.8 GB), or start the stack without LAB_N8N=1")
    source = Path(os.environ["N8N_WORKFLOW_FILE"]).read_bytes()
    folder = Path(os.environ["N8N_USER_FOLDER"]) / ".n8n"
    marker = folder / "sentinel-workflow.sha256"
    digest = hashlib.sha256(source).hexdigest()
    fresh = not marker.exists() or marker.read_text() != digest
    if fresh:  # a database set up for another workflow file (or half set up) is disposable
        for db in folder.glob("database.sqlite*"):
            db.unlink()
    base = f"http://{os.environ['N8N_LISTEN_ADDRESS']}:{os.environ['N8N_PORT']}"
    started = time.monotonic()
    server = subprocess.Popen(["node", os.environ["N8N_BIN"], "start"])
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: server.send_signal(signum))
    try:
        _wait_ready(base, server)
        print(f"n8n: ready {time.monotonic() - started:.1f} s after start", flush=True)
        if fresh:
            _set_up(base, json.loads(source))
            marker.write_text(digest)
    except BaseException as exc:  # never leave an n8n behind that is unowned or outlives its launcher
        print(f"n8n: set-up failed, stopping n8n: {type(exc).__name__}: {exc}", flush=True)
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:  # n8n does not stop while it migrates its database
            server.kill()
        raise
    sys.exit(server.wait())


if __name__ == "__main__":
    main()
