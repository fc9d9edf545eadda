"""``python -m stack.n8n``: import and activate the P3 workflow, start n8n, claim its owner account.

Runs as the local stack's ``n8n`` program (LAB_N8N=1). n8n's CLI imports the workflow into its sqlite
database and activates it before the server starts (an active workflow's webhook registers at start).
The server then runs as a child; as soon as it answers, the owner account is claimed with the password in
N8N_OWNER_PASSWORD_FILE (0600), so nobody else can claim an unowned editor. SIGTERM/SIGINT are passed on.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

STARTUP_TIMEOUT_S = 120.0


def _cli(*args: str) -> None:
    done = subprocess.run(["node", os.environ["N8N_BIN"], *args], capture_output=True, text=True)
    sys.stdout.write(done.stdout + done.stderr)
    if done.returncode != 0:
        sys.exit(f"n8n {' '.join(args)} failed (exit {done.returncode}); its output is above")


def _url(path: str) -> str:
    return f"http://{os.environ['N8N_LISTEN_ADDRESS']}:{os.environ['N8N_PORT']}{path}"


def _claim_owner(server: subprocess.Popen) -> None:
    """POST /rest/owner/setup once /healthz answers (after a restart n8n says the owner exists already)."""
    with open(os.environ["N8N_OWNER_PASSWORD_FILE"]) as f:
        password = "Lab1-" + f.read().strip()  # n8n wants a digit and a capital letter
    body = json.dumps({"email": os.environ["N8N_OWNER_EMAIL"], "firstName": "Sentinel", "lastName": "Lab",
                       "password": password}).encode()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline and server.poll() is None:
        try:
            urllib.request.urlopen(_url("/healthz"), timeout=2).close()
            break
        except OSError:
            time.sleep(0.2)
    request = urllib.request.Request(_url("/rest/owner/setup"), data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=10).close()
        print("n8n: owner account claimed", flush=True)
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        if exc.code != 400 or "already setup" not in detail:
            raise OSError(f"POST /rest/owner/setup → {exc.code}: {detail[:300]}") from exc
        print("n8n: owner account already set up", flush=True)


def main() -> None:
    if not os.path.exists(os.environ["N8N_BIN"]):
        sys.exit(f"n8n is not installed ({os.environ['N8N_BIN']} is missing): run stack/local/install-n8n.sh "
                 "(about 6 min, 1.8 GB), or start the stack without LAB_N8N=1")
    workflow = os.environ["N8N_WORKFLOW_FILE"]
    _cli("import:workflow", f"--input={workflow}")
    _cli("update:workflow", f"--id={os.environ['N8N_WORKFLOW_ID']}", "--active=true")
    server = subprocess.Popen(["node", os.environ["N8N_BIN"], "start"])
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: server.send_signal(signum))
    try:
        _claim_owner(server)
    except OSError as exc:
        print(f"n8n: could not claim the owner account: {exc}; stopping n8n", flush=True)
        server.terminate()
    sys.exit(server.wait())


if __name__ == "__main__":
    main()
