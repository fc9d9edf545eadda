"""Keeping the run directory private: secrets are never readable by another user of the machine.

Every file the local stack renders or writes under its run directory is 0600 and every directory 0700.
When the lab runs as root, Postgres runs as the ``postgres`` user and must still reach its data, socket,
config and log directories: those directories become 0710 with group ``postgres`` (enter, never list) and
Postgres's own config files are handed to it; nothing there holds a secret.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pwd
import secrets
from pathlib import Path

#: Postgres's default SCRAM iteration count (scram_iterations); a verifier says how it was made.
SCRAM_ITERATIONS = 4096


def postgres_ids() -> tuple[int, int] | None:
    """(uid, gid) of the ``postgres`` user when the lab runs as root (it then runs Postgres as that user)."""
    if os.geteuid() != 0:
        return None
    pg = pwd.getpwnam("postgres")
    return pg.pw_uid, pg.pw_gid


def enterable_by_postgres(path: Path) -> None:
    """``path`` is a directory Postgres must pass through: 0710 with its group when the lab is root."""
    ids = postgres_ids()
    if ids is None:
        os.chmod(path, 0o700)
    else:
        os.chown(path, -1, ids[1])
        os.chmod(path, 0o710)


def lock_down(root: Path, skip: tuple[Path, ...] = ()) -> None:
    """Every file under ``root`` 0600 and every directory 0700, except the trees in ``skip`` (Postgres's own:
    its data, socket, logs and config, which hold no secret and which it must read as its own user)."""
    skipped = {p.resolve() for p in skip}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if (here / d).resolve() not in skipped]
        for name in [*filenames, *dirnames]:
            path = here / name
            try:
                if not path.is_symlink() and not path.is_socket():
                    os.chmod(path, 0o700 if path.is_dir() else 0o600)
            except FileNotFoundError:  # a running service removed it meanwhile
                continue


def scram_verifier(password: str, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier Postgres stores for ``password`` (RFC 5802/7677): setting a role's
    password to it keeps the password itself out of SQL text, server logs and pg_stat_statements."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"
