"""Secrets never readable by another user: files under the run directory, command lines, Postgres's
statement statistics; and Redis refuses a client without credentials."""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from analysis.settings import REDIS_USERS

pytestmark = pytest.mark.integration


def _secrets(run: Path) -> dict[str, str]:
    return {p.name: p.read_text().strip() for p in (run / "secrets").iterdir()}


def exposed(run: Path, secrets: dict[str, str]) -> list[str]:
    """Files under ``run`` readable by group or others that hold one of ``secrets`` ("path: secret")."""
    found = []
    for dirpath, _, filenames in os.walk(run):
        for name in filenames:
            path = Path(dirpath) / name
            mode = path.lstat().st_mode
            if not stat.S_ISREG(mode) or not mode & 0o044:
                continue
            try:
                data = path.read_bytes()
            except (FileNotFoundError, PermissionError):
                continue
            found += [f"{path}: {key}" for key, value in secrets.items() if value.encode() in data]
    return found


def test_the_walk_finds_a_planted_secret(tmp_path):  # positive control for the walk below
    (tmp_path / "conf").write_text("password=hunter2-secret\n")
    os.chmod(tmp_path / "conf", 0o644)
    assert exposed(tmp_path, {"db_password": "hunter2-secret"}) == [f"{tmp_path / 'conf'}: db_password"]
    os.chmod(tmp_path / "conf", 0o600)
    assert exposed(tmp_path, {"db_password": "hunter2-secret"}) == []


def test_no_file_readable_by_others_holds_a_secret(lab_stack):
    run = lab_stack.settings.run_dir
    secrets = _secrets(run)
    assert {"db_password", "jwt_secret", "monitor_password", *(f"redis_{u}" for u in REDIS_USERS)} <= set(secrets)
    assert exposed(run, secrets) == []
    assert stat.S_IMODE(os.stat(run / "supervisord.conf").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(run).st_mode) & 0o007 == 0, "others may not enter the run directory"
    assert stat.S_IMODE(os.stat(run / "secrets").st_mode) == 0o700


def test_no_log_holds_a_secret(lab_stack):
    secrets = _secrets(lab_stack.settings.run_dir)
    leaks = [f"{p.name}: {k}" for p in lab_stack.settings.log_dir.iterdir() if p.is_file()
             for k, v in secrets.items() if v.encode() in p.read_bytes()]
    assert leaks == []


def test_no_command_line_holds_a_secret(lab_stack):
    secrets = _secrets(lab_stack.settings.run_dir)
    lines = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert "redis-exporter" in lines and "postgres" in lines  # the stack's processes are there to see
    assert [k for k, v in secrets.items() if v in lines] == []


def test_no_secret_reaches_pg_stat_statements(lab_stack):
    secrets = _secrets(lab_stack.settings.run_dir)
    with psycopg.connect(lab_stack.settings.monitor_url, autocommit=True) as conn:
        texts = "\n".join(q for (q,) in conn.execute("SELECT query FROM pg_stat_statements").fetchall())
    assert [k for k, v in secrets.items() if v in texts] == []


def test_the_application_role_cannot_read_other_roles_statistics(lab_stack):
    with psycopg.connect(lab_stack.settings.database_url, autocommit=True) as conn:
        roles = {r for (r,) in conn.execute("SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b "
                                            "ON b.oid = m.roleid JOIN pg_roles u ON u.oid = m.member "
                                            "WHERE u.rolname = current_user").fetchall()}
    assert not roles & {"pg_monitor", "pg_read_all_stats", "pg_read_all_settings"}


def test_redis_refuses_a_client_without_the_password(lab_stack):
    port = lab_stack.settings.port("redis")
    reply = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "ping"], capture_output=True,
                           text=True, timeout=10)
    assert "PONG" not in reply.stdout and "NOAUTH" in reply.stdout + reply.stderr
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port).set("lab:anonymous", "x")
    assert redis.Redis.from_url(lab_stack.settings.redis_url).ping()


def test_each_service_has_its_own_redis_user_and_the_exporter_only_reads(lab_stack):
    settings = lab_stack.settings
    api = redis.Redis.from_url(settings.redis_url_as("api"))
    assert api.acl_whoami() == "api"
    api.set("lab:acl-probe", "1", ex=30)
    with pytest.raises(redis.exceptions.NoPermissionError):
        api.flushall()
    with pytest.raises(redis.exceptions.NoPermissionError):
        api.config_set("maxmemory-policy", "allkeys-lru")
    exporter = redis.Redis.from_url(settings.redis_url_as("exporter"))
    assert exporter.get("lab:acl-probe") == b"1" and exporter.info("memory")["used_memory"] > 0
    with pytest.raises(redis.exceptions.NoPermissionError):
        exporter.set("lab:acl-probe", "2")


def test_the_redis_exporter_logs_in_as_its_read_only_user(lab_stack):
    metrics = httpx.get(f"{lab_stack.settings.url('redis-exporter')}/metrics", timeout=10).text
    assert "\nredis_up 1" in metrics, [line for line in metrics.splitlines() if line.startswith("redis_up")]
