"""The tenant, user and Postgres role reserved for the lab's probes, declared once.

The probes (``analysis/probes.py``) act as this tenant's one user; the seeder adds them beside the
seeded data set (never among ``logins(scale)``, so Locust never draws them); the API and the worker
run this tenant's statements through a connection as :data:`DB_ROLE` (``PROBE_DATABASE_URL``), so
``pg_stat_statements`` attributes them to the probe role, not to the application role whose
statements are the workload's. Their writes only touch this tenant's incidents and cached dashboard.

Not attributable: the Redis commands probe requests cause (sessions, rate limiter, cache, task queue)
are counted in Redis's server-wide ``total_commands_processed`` with everyone else's.
"""
from __future__ import annotations

#: far above any seeded scale's ids (medium: 50 tenants, 5,000 users)
TENANT_ID = 1_000_000
USER_ID = 1_000_000
USERNAME = "lab-probe"
EMAIL = "lab-probe@probes.example"
TENANT_NAME = "lab-probes"
DB_ROLE = "sentinel_probe"


def is_probe_tenant(tenant_id: int | None) -> bool:
    return tenant_id == TENANT_ID
