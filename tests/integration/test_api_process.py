"""``python -m stack.api`` as the stack controller runs it: environment in, /health, /metrics and a JSON log out."""
import json
import os
import subprocess
import sys
import time

import httpx
import pytest
from ports import free_port
from api_support import seeded_database

pytestmark = pytest.mark.integration


def test_the_service_starts_from_its_environment_and_logs_json_lines(pg_dsn, redis_url, tmp_path):
    port, log_file = free_port(), tmp_path / "api.log"
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "DATABASE_URL": seeded_database(pg_dsn, "api_process"),
           "REDIS_URL": redis_url, "LOG_FILE": str(log_file), "SERVICE_NAME": "api", "SENTINEL_CACHE": "on",
           "SENTINEL_SESSIONS": "redis", "SENTINEL_NOTIFY": "pubsub", "SENTINEL_RATELIMIT": "on"}
    proc = subprocess.Popen([sys.executable, "-m", "stack.api"], env=env)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(200):
                try:
                    health = client.get("/health")
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            assert health.status_code == 200 and health.json()["cache"] == "on"
            assert 'http_requests_total{handler="/health",method="GET",status="200"}' in client.get("/metrics").text
    finally:
        proc.terminate()
        assert proc.wait(15) in (0, -15)  # uvicorn re-raises the SIGTERM it handled
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    started = next(x for x in lines if x["message"] == "started")
    assert started["service"] == "api" and (started["sessions"], started["notify"]) == ("redis", "pubsub")


def test_a_bad_toggle_stops_the_service_with_a_message():
    env = {**os.environ, "DATABASE_URL": "postgresql://x@127.0.0.1/x", "REDIS_URL": "redis://127.0.0.1:1/0",
           "SENTINEL_CACHE": "sometimes"}
    done = subprocess.run([sys.executable, "-m", "stack.api"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "SENTINEL_CACHE" in done.stderr and "off, on" in done.stderr
