"""The SQL the API runs, as small async functions over a pool (every statement counts in the metrics)."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

WINDOWS = {"24h": "24 hours", "7d": "7 days"}
TOP_SERVICES = 5
INCIDENT_COLUMNS = ("id, tenant_id, service, severity, status, opened_at, acknowledged_at, resolved_at, "
                    "title, body, created_by, updated_at")

_WINDOW_ROWS = "(VALUES ('24h', interval '24 hours'), ('7d', interval '7 days')) AS w(label, span)"
_BREAKDOWN = f"""
SELECT w.label, i.status, i.severity, count(*) AS n, count(i.resolved_at) AS resolved,
       sum(extract(epoch FROM i.resolved_at - i.opened_at)) AS resolve_seconds
FROM {_WINDOW_ROWS} JOIN incidents i ON i.tenant_id = %(tenant)s AND i.opened_at >= now() - w.span
GROUP BY w.label, i.status, i.severity"""
_SERVICES = f"""
SELECT label, service, n FROM (
  SELECT w.label, i.service, count(*) AS n,
         row_number() OVER (PARTITION BY w.label ORDER BY count(*) DESC, i.service) AS rank
  FROM {_WINDOW_ROWS} JOIN incidents i ON i.tenant_id = %(tenant)s AND i.opened_at >= now() - w.span
  GROUP BY w.label, i.service) ranked
WHERE rank <= {TOP_SERVICES} ORDER BY label, rank"""


async def tenant_exists(pool: AsyncConnectionPool, tenant_id: int) -> bool:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT 1 FROM tenants WHERE id = %s", (tenant_id,))
        return await cur.fetchone() is not None


async def dashboard(pool: AsyncConnectionPool, tenant_id: int) -> dict:
    """Counts by status and severity, MTTR and top services over 24 h and 7 d (the heavy aggregate P1 caches)."""
    out = {w: {"total": 0, "by_status": {}, "by_severity": {}, "resolved": 0, "mttr_s": None,
               "top_services": []} for w in WINDOWS}
    seconds = {w: Decimal(0) for w in WINDOWS}
    async with pool.connection() as conn:
        generated_at = datetime.now(timezone.utc)
        cur = await conn.execute(_BREAKDOWN, {"tenant": tenant_id})
        for row in await cur.fetchall():
            w = out[row["label"]]
            w["total"] += row["n"]
            w["resolved"] += row["resolved"]
            w["by_status"][row["status"]] = w["by_status"].get(row["status"], 0) + row["n"]
            w["by_severity"][row["severity"]] = w["by_severity"].get(row["severity"], 0) + row["n"]
            seconds[row["label"]] += row["resolve_seconds"] or 0
        cur = await conn.execute(_SERVICES, {"tenant": tenant_id})
        for row in await cur.fetchall():
            out[row["label"]]["top_services"].append({"service": row["service"], "count": row["n"]})
    for label, w in out.items():
        if w["resolved"]:
            w["mttr_s"] = (seconds[label] / w["resolved"]).quantize(Decimal("0.001"))
    return {"tenant_id": tenant_id, "generated_at": generated_at, "windows": out}


async def list_incidents(pool: AsyncConnectionPool, tenant_id: int, *, status: str | None, severity: str | None,
                         service: str | None, page: int, page_size: int) -> dict:
    where, params = ["tenant_id = %(tenant)s"], {"tenant": tenant_id, "limit": page_size + 1,
                                                  "offset": (page - 1) * page_size}
    for column, value in (("status", status), ("severity", severity), ("service", service)):
        if value is not None:
            where.append(f"{column} = %({column})s")
            params[column] = value
    sql = (f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE {' AND '.join(where)} "
           "ORDER BY opened_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s")
    async with pool.connection() as conn:
        rows = await (await conn.execute(sql, params)).fetchall()
    return {"items": rows[:page_size], "page": page, "page_size": page_size, "has_more": len(rows) > page_size}


async def get_incident(pool: AsyncConnectionPool, tenant_id: int, incident_id: int) -> dict | None:
    async with pool.connection() as conn:
        cur = await conn.execute(f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = %s AND tenant_id = %s",
                                 (incident_id, tenant_id))
        return await cur.fetchone()


async def create_incident(pool: AsyncConnectionPool, tenant_id: int, user_id: int, fields: dict,
                          task: str) -> tuple[dict, list]:
    """The new incident and the args of its ``task`` (incident, tenant, outbox row), the task written to
    the outbox in the same transaction: it is never lost, whatever happens to its message (the worker's
    sweep re-sends it)."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "INSERT INTO incidents (tenant_id, service, severity, status, title, body, created_by) "
            f"VALUES (%(tenant)s, %(service)s, %(severity)s, 'open', %(title)s, %(body)s, %(user)s) "
            f"RETURNING {INCIDENT_COLUMNS}", {**fields, "tenant": tenant_id, "user": user_id})
        row = await cur.fetchone()
        args = [row["id"], tenant_id]
        cur = await conn.execute("INSERT INTO task_outbox (task, args) VALUES (%s, %s) RETURNING id", (task, Jsonb(args)))
        return row, [*args, (await cur.fetchone())["id"]]  # the task marks its outbox row done


async def update_incident(pool: AsyncConnectionPool, tenant_id: int, incident_id: int, fields: dict) -> dict | None:
    """Apply the given fields; a status change stamps acknowledged_at / resolved_at (reopening clears resolved_at)."""
    sets = [f"{name} = %({name})s" for name in ("severity", "title", "body", "service") if name in fields]
    if "status" in fields:
        sets += ["status = %(status)s",
                 "acknowledged_at = CASE WHEN %(status)s = 'open' THEN NULL "
                 "ELSE coalesce(acknowledged_at, now()) END",
                 "resolved_at = CASE WHEN %(status)s = 'resolved' THEN coalesce(resolved_at, now()) ELSE NULL END"]
    sets.append("updated_at = now()")
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"UPDATE incidents SET {', '.join(sets)} WHERE id = %(id)s AND tenant_id = %(tenant)s "
            f"RETURNING {INCIDENT_COLUMNS}", {**fields, "id": incident_id, "tenant": tenant_id})
        return await cur.fetchone()


async def incidents_since(pool: AsyncConnectionPool, tenant_id: int, after_id: int, limit: int = 100) -> list[dict]:
    """Incidents created after the cursor ``after_id`` (the poll mode of notifications)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id AS incident_id, tenant_id, title, severity, service, opened_at AS created_at "
            "FROM incidents WHERE tenant_id = %s AND id > %s ORDER BY id LIMIT %s", (tenant_id, after_id, limit))
        return await cur.fetchall()


async def latest_incident_id(pool: AsyncConnectionPool, tenant_id: int) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT coalesce(max(id), 0) AS id FROM incidents WHERE tenant_id = %s",
                                 (tenant_id,))
        return (await cur.fetchone())["id"]


async def set_password_hash(pool: AsyncConnectionPool, user_id: int, password_hash: str) -> None:
    async with pool.connection() as conn:
        await conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (password_hash, user_id))


async def find_user(pool: AsyncConnectionPool, username: str) -> dict | None:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id, tenant_id, username, password_hash FROM users WHERE username = %s",
                                 (username,))
        return await cur.fetchone()
