"""Deterministic, skewed Sentinel data, loaded with COPY.

``python -m stack.api.seed --scale small|medium [--dsn DSN] [--force]``

Tenant sizes follow a Zipf law (a few tenants are big). Users are
``user<N>@tenant<M>.example`` (username ``user<N>``) with password
``password-<N>``; ``logins(scale)`` lists them without touching the database,
so load tests can draw users. Timestamps are offsets from the seeding time
(the *anchor*), so "the last 24 h" always has data right after seeding.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import psycopg

from stack import lab_probe
from stack.api.db import apply_schema
from stack.api.passwords import SEED_ITERATIONS, hash_password, seed_password


@dataclass(frozen=True)
class Scale:
    name: str
    tenants: int
    users: int
    incidents: int
    metric_samples: int
    days: int = 30


SCALES = {s.name: s for s in (
    Scale("small", tenants=5, users=100, incidents=20_000, metric_samples=10_000),
    Scale("medium", tenants=50, users=5_000, incidents=500_000, metric_samples=200_000),
)}

SERVICES = ("api-gateway", "auth", "billing", "checkout", "search", "catalog", "inventory", "payments",
            "notifications", "email", "sms", "reports", "scheduler", "ingest", "etl", "warehouse",
            "frontend", "cdn", "dns", "postgres", "redis", "kafka", "object-store", "ml-scoring", "vpn")
PROBLEMS = ("high error rate", "latency above SLO", "disk almost full", "memory pressure", "pod crash loop",
            "certificate expiring", "replication lag", "queue backlog", "5xx spike", "health check failing")
SEVERITIES = np.array(["critical", "high", "medium", "low"])
SEVERITY_P = (0.05, 0.15, 0.40, 0.40)
SEED = 20241220


@dataclass(frozen=True)
class Login:
    user_id: int
    tenant_id: int
    email: str
    username: str
    password: str


def tenant_weights(n: int) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** 1.1
    return w / w.sum()


def users_per_tenant(scale: Scale) -> list[int]:
    """At least two users a tenant, the rest in proportion to tenant size (largest remainder)."""
    spare = scale.users - 2 * scale.tenants
    exact = tenant_weights(scale.tenants) * spare
    counts = np.floor(exact).astype(int)
    for i in np.argsort(exact - counts)[::-1][: spare - counts.sum()]:
        counts[i] += 1
    return [int(c) + 2 for c in counts]


def logins(scale: str | Scale) -> list[Login]:
    """Every seeded user with the password the seeder gave them, in user id order."""
    scale = SCALES[scale] if isinstance(scale, str) else scale
    out, uid = [], 1
    for tid, count in enumerate(users_per_tenant(scale), start=1):
        for _ in range(count):
            out.append(Login(uid, tid, f"user{uid}@tenant{tid}.example", f"user{uid}", seed_password(uid)))
            uid += 1
    return out


def probe_login() -> Login:
    """The lab's probe user, alone in the probe tenant (``stack.lab_probe``); not one of ``logins()``."""
    return Login(lab_probe.USER_ID, lab_probe.TENANT_ID, lab_probe.EMAIL, lab_probe.USERNAME,
                 seed_password(lab_probe.USER_ID))


def ensure_probe_tenant(dsn: str) -> None:
    """Add the probe tenant and its user if missing (databases seeded before they existed get them too)."""
    login = probe_login()
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO tenants (id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                     (login.tenant_id, lab_probe.TENANT_NAME))
        conn.execute("INSERT INTO users (id, tenant_id, username, email, password_hash) VALUES (%s, %s, %s, %s, %s) "
                     "ON CONFLICT DO NOTHING",
                     (login.user_id, login.tenant_id, login.username, login.email,
                      hash_password(login.password, salt=f"seed{login.user_id:06d}", iterations=SEED_ITERATIONS)))


def _users_frame(scale: Scale) -> pd.DataFrame:
    rows = [(u.user_id, u.tenant_id, u.username, u.email,
             hash_password(u.password, salt=f"seed{u.user_id:06d}", iterations=SEED_ITERATIONS))
            for u in logins(scale)]
    return pd.DataFrame(rows, columns=["id", "tenant_id", "username", "email", "password_hash"])


def _incidents_frame(scale: Scale, anchor: datetime, rng: np.random.Generator) -> pd.DataFrame:
    n = scale.incidents
    tenant = rng.choice(np.arange(1, scale.tenants + 1), size=n, p=tenant_weights(scale.tenants))
    service = rng.choice(np.array(SERVICES), size=n, p=tenant_weights(len(SERVICES)))
    severity = rng.choice(SEVERITIES, size=n, p=SEVERITY_P)
    age_s = rng.uniform(0, scale.days * 86400, size=n)
    roll = rng.random(n)
    young, day = age_s < 2 * 3600, age_s < 86400
    p_open = np.where(young, 0.6, np.where(day, 0.15, 0.015))
    p_ack = np.where(young, 0.3, np.where(day, 0.2, 0.015))
    status = np.where(roll < p_open, "open", np.where(roll < p_open + p_ack, "acknowledged", "resolved"))
    anchor_ts = pd.Timestamp(anchor)
    opened = anchor_ts - pd.to_timedelta(age_s, unit="s")
    ack_after = rng.exponential(600, size=n)
    sev_scale = {"critical": 1800.0, "high": 3600.0, "medium": 4 * 3600.0, "low": 12 * 3600.0}
    resolve_after = rng.lognormal(0, 0.8, size=n) * np.vectorize(sev_scale.get)(severity)
    ack_s = np.minimum(ack_after, age_s)
    res_s = np.minimum(ack_after + resolve_after, age_s)
    acknowledged = (opened + pd.to_timedelta(ack_s, unit="s")).where(status != "open")
    resolved = (opened + pd.to_timedelta(res_s, unit="s")).where(status == "resolved")
    problem = rng.choice(np.array(PROBLEMS), size=n)
    title = pd.Series(service).str.cat(pd.Series(problem), sep=": ")
    body = "Alert fired on " + pd.Series(service) + " (" + pd.Series(severity) + "): " + pd.Series(problem)
    return pd.DataFrame({
        "id": np.arange(1, n + 1), "tenant_id": tenant, "service": service, "severity": severity,
        "status": status, "opened_at": opened, "acknowledged_at": acknowledged, "resolved_at": resolved,
        "title": title, "body": body, "updated_at": anchor_ts,
    })


def _metric_samples_frame(scale: Scale, anchor: datetime, rng: np.random.Generator) -> pd.DataFrame:
    n = scale.metric_samples
    metric = rng.choice(np.array(["latency_p95_ms", "error_rate", "cpu_percent"]), size=n)
    base = np.select([metric == "latency_p95_ms", metric == "error_rate"], [120.0, 0.01], 35.0)
    return pd.DataFrame({
        "tenant_id": rng.choice(np.arange(1, scale.tenants + 1), size=n, p=tenant_weights(scale.tenants)),
        "service": rng.choice(np.array(SERVICES), size=n),
        "metric": metric,
        "ts": pd.Timestamp(anchor) - pd.to_timedelta(rng.uniform(0, 7 * 86400, size=n), unit="s"),
        "value": np.round(base * rng.lognormal(0, 0.3, size=n), 4),
    })


def _copy(cur: psycopg.Cursor, table: str, frame: pd.DataFrame) -> None:
    cols = ", ".join(frame.columns)
    with cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT csv)") as copy:
        for start in range(0, len(frame), 100_000):
            buf = io.StringIO()
            frame.iloc[start:start + 100_000].to_csv(buf, header=False, index=False,
                                                      date_format="%Y-%m-%dT%H:%M:%S.%f%z")
            copy.write(buf.getvalue())


def seeded_scale(dsn: str) -> str | None:
    """The scale the database holds, or None when it was never seeded."""
    apply_schema(dsn)
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT scale FROM seed_runs ORDER BY created_at DESC LIMIT 1").fetchone()
    return row[0] if row else None


def seed(dsn: str, scale_name: str, force: bool = False) -> bool:
    """Load ``scale_name``; False when it is already there. Another scale there needs ``force``."""
    scale = SCALES[scale_name]
    present = seeded_scale(dsn)
    if present == scale_name and not force:
        ensure_probe_tenant(dsn)
        return False
    if present and present != scale_name and not force:
        raise SystemExit(f"the database holds the {present!r} data set; pass --force to replace it")
    anchor = datetime.now(timezone.utc).replace(microsecond=0)
    rng = np.random.default_rng(SEED)
    users = _users_frame(scale)
    incidents = _incidents_frame(scale, anchor, rng)
    samples = _metric_samples_frame(scale, anchor, rng)
    tenants = pd.DataFrame({"id": range(1, scale.tenants + 1),
                            "name": [f"tenant{t}" for t in range(1, scale.tenants + 1)]})
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("TRUNCATE tenants, users, incidents, metric_samples, incident_events, tenant_reports, "
                    "seed_runs RESTART IDENTITY CASCADE")
        for table, frame in (("tenants", tenants), ("users", users), ("incidents", incidents),
                             ("metric_samples", samples)):
            _copy(cur, table, frame)
        cur.execute("SELECT setval(pg_get_serial_sequence('incidents', 'id'), %s)", (len(incidents),))
        cur.execute("INSERT INTO seed_runs (scale, anchor, tenants, users, incidents) VALUES (%s, %s, %s, %s, %s)",
                    (scale.name, anchor, scale.tenants, len(users), len(incidents)))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ANALYZE tenants, users, incidents, metric_samples")
    ensure_probe_tenant(dsn)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.api.seed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL"),
                        help="Postgres DSN (default: $DATABASE_URL)")
    parser.add_argument("--force", action="store_true", help="replace whatever data set is there")
    args = parser.parse_args(argv)
    if not args.dsn:
        parser.error("give --dsn or set DATABASE_URL")
    started = time.monotonic()
    made = seed(args.dsn, args.scale, args.force)
    what = "seeded" if made else "already seeded (use --force to reseed)"
    print(f"{args.scale}: {what} in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
