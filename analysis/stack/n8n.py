"""n8n as an opt-in service of the local stack (``LAB_N8N=1``): where it lives, how it runs, what it loads.

n8n 1.123.81 runs on this machine's Node 20 only when installed with ``--ignore-scripts`` (its isolated-vm
does not compile against Node 20) and started with ``N8N_EXPRESSION_ENGINE=legacy``, an engine n8n marks
deprecated (on Node 22+ its default engine loads). ``stack/local/install-n8n.sh`` installs it under
``.lab/n8n``; ``make study`` never does. Everything it listens on is loopback, telemetry is off, its
settings file is 0600 and the owner account is claimed at start with a password kept in a 0600 file,
so the editor is never open to whoever reaches the port first.
"""
from __future__ import annotations

import json
from pathlib import Path

from analysis.settings import REPO, Settings

N8N_VERSION = "1.123.81"
N8N_HOME = REPO / ".lab" / "n8n"
N8N_BIN = N8N_HOME / "node_modules" / "n8n" / "bin" / "n8n"
INSTALL_SCRIPT = REPO / "stack" / "local" / "install-n8n.sh"
WORKFLOW = REPO / "stack" / "n8n" / "workflows" / "p3-remediation.json"
OWNER_EMAIL = "owner@sentinel-lab.invalid"
NOT_INSTALLED = (f"n8n {N8N_VERSION} is not installed in {N8N_HOME}: run {INSTALL_SCRIPT.relative_to(REPO)} "
                 "(about 6 min and 1.8 GB), then set LAB_N8N=1")


def _workflow() -> dict:
    return json.loads(WORKFLOW.read_text())


#: the path of the workflow's webhook node: Alertmanager posts to /webhook/<this>
WEBHOOK_PATH: str = next(n["parameters"]["path"] for n in _workflow()["nodes"]
                         if n["type"] == "n8n-nodes-base.webhook")


def installed() -> bool:
    """Is the pinned n8n installed (and its sqlite3 rebuilt) under ``.lab/n8n``?"""
    try:
        version = json.loads((N8N_HOME / "node_modules" / "n8n" / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return False
    return version == N8N_VERSION and N8N_BIN.exists() and (N8N_HOME / ".sqlite3-rebuilt").exists()


def broker_port(settings: Settings) -> int:
    """The task broker's port: the one after n8n's own."""
    return settings.port("n8n") + 1


def webhook_url(settings: Settings) -> str:
    return f"{settings.url('n8n')}/webhook/{WEBHOOK_PATH}"


def user_folder(settings: Settings) -> Path:
    return settings.run_dir / "n8n"


def environment(settings: Settings) -> dict[str, str]:
    """The n8n process's environment (secrets as 0600 files, read by n8n's ``*_FILE`` variables)."""
    return {
        "N8N_BIN": str(N8N_BIN), "PYTHONUNBUFFERED": "1",
        "N8N_WORKFLOW_FILE": str(WORKFLOW),
        "N8N_OWNER_EMAIL": OWNER_EMAIL,
        "N8N_OWNER_PASSWORD_FILE": str(settings.secret_file("n8n_owner_password")),
        "N8N_USER_FOLDER": str(user_folder(settings)),
        "N8N_ENCRYPTION_KEY_FILE": str(settings.secret_file("n8n_encryption_key")),
        "N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS": "true",
        # loopback only, the task broker included
        "N8N_HOST": settings.host, "N8N_LISTEN_ADDRESS": settings.host, "N8N_PORT": str(settings.port("n8n")),
        "N8N_PROTOCOL": "http", "WEBHOOK_URL": f"{settings.url('n8n')}/", "N8N_SECURE_COOKIE": "false",
        "N8N_RUNNERS_ENABLED": "true", "N8N_RUNNERS_MODE": "internal",
        "N8N_RUNNERS_BROKER_LISTEN_ADDRESS": settings.host, "N8N_RUNNERS_BROKER_PORT": str(broker_port(settings)),
        # Node 20: isolated-vm is not built (install-n8n.sh), so the deprecated legacy engine
        "N8N_EXPRESSION_ENGINE": "legacy",
        # no internet: no telemetry, version checks, templates, banners, AI assistant or public API
        "N8N_DIAGNOSTICS_ENABLED": "false", "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
        "N8N_VERSION_NOTIFICATIONS_WHATS_NEW_ENABLED": "false", "N8N_TEMPLATES_ENABLED": "false",
        "N8N_DYNAMIC_BANNERS_ENABLED": "false", "N8N_HIRING_BANNER_ENABLED": "false",
        "N8N_PERSONALIZATION_ENABLED": "false", "N8N_AI_ENABLED": "false", "N8N_PUBLIC_API_DISABLED": "true",
        "N8N_LICENSE_AUTO_RENEW_ENABLED": "false",
        "DB_TYPE": "sqlite", "DB_SQLITE_POOL_SIZE": "2", "N8N_LOG_OUTPUT": "console", "GENERIC_TIMEZONE": "UTC",
        "N8N_GIT_NODE_DISABLE_BARE_REPOS": "true", "N8N_GRACEFUL_SHUTDOWN_TIMEOUT": "5",
        # what the P3 workflow reads through $env: the model's address and the remediator it calls
        "N8N_BLOCK_ENV_ACCESS_IN_NODE": "false",
        "OLLAMA_URL": settings.url("ollama"), "REMEDIATOR_URL": settings.url("remediator"),
        "REMEDIATOR_TOKEN": settings.secret("remediator_token"),
    }
