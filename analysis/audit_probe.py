"""The P7 probe: what the Postgres log of one run holds, against ground truth the probe planted.

Beside the load it plants, on a connection of its own (the ``postgres`` role over the local
socket, so none of it counts as the workload's): marked slow statements of seeded durations over
the design's 100 ms threshold, DDL on throwaway tables, password changes of a throwaway role
(cleartext, a SCRAM verifier, and one that fails). After the load it reads the server log from
where the run began and reports, per run: log bytes and lines the workload's role caused,
Postgres execution time, slow statements missed (found = the marker and its duration in one
entry), the delay until they appear, the share of the workload's writes and the planted DDL in
the trail with user, database and statement, and the planted passwords the leak detector finds.
Local stack only (it reads the log file and uses the local socket).
"""
from __future__ import annotations

import random
import secrets
import time
from datetime import datetime, timezone

import pandas as pd
import psycopg

from analysis import audit
from analysis.collect import pglog, postgres
from analysis.probe_base import Probe, ProbeContext, Values

SLOW_THRESHOLD_MS = 100  # "slow" as the design document defines it (log_min_duration_statement = 100)
SLOW_RANGE_S = (0.15, 0.40)  # planted durations, seeded: some fall under a 250 ms threshold on purpose
THROWAWAY_ROLE = "lab_audit_throwaway"
PLANT_EVERY_S = 0.7  # pause between planting rounds (a round: a slow statement, DDL, password changes)


def _settled(log, quiet_s: float = 0.2, at_most_s: float = 1.0) -> None:
    """Wait until ``log`` has not grown for ``quiet_s`` (at most ``at_most_s``): the last planted
    statement's entries are in the file."""
    deadline, size, still_since = time.monotonic() + at_most_s, -1, time.monotonic()
    while time.monotonic() < deadline:
        now = log.stat().st_size
        if now != size:
            size, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= quiet_s:
            return
        time.sleep(0.05)


class PgAuditTrail(Probe):
    background = True
    checks = "slow_planted"

    def __init__(self, seed: int = 7):
        super().__init__()
        self.rng = random.Random(seed)
        self.slow: list[tuple[str, float, datetime]] = []  # marker, seconds, end of execution
        self.ddl: list[str] = []
        self.cleartext: list[str] = []
        self.verifiers: list[str] = []
        self.failing: list[str] = []
        self.delays: list[float] = []

    def _connect(self, ctx: ProbeContext) -> psycopg.Connection:
        s = ctx.settings
        return psycopg.connect(host=str(s.run_dir / "pgsocket"), port=s.port("postgres"), user="postgres",
                               dbname=s.db_name, autocommit=True, connect_timeout=10)

    def start(self, ctx: ProbeContext) -> None:
        self.log = ctx.settings.log_dir / "postgres.log"
        if ctx.settings.stack != "local" or not self.log.exists():
            self.error = f"no Postgres log at {self.log}: the pg-audit probe reads the local stack's log file"
            return
        self.offset = self.log.stat().st_size
        try:
            self.pg_before = postgres.statements(ctx.settings.monitor_url)
            with self._connect(ctx) as conn:
                loaded = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
                if ctx.toggles.get("PG_AUDIT", "").startswith("pgaudit") and "pgaudit" not in loaded:
                    self.error = ("pgaudit is not loaded (shared_preload_libraries = "
                                  f"{loaded!r}): install postgresql-15-pgaudit (stack/local/install-deps.sh)")
                    return
                if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (THROWAWAY_ROLE,)).fetchone():
                    conn.execute(f"CREATE ROLE {THROWAWAY_ROLE} NOLOGIN")
        except (psycopg.Error, RuntimeError) as exc:  # the run goes on; this probe's metrics are not measured
            self.error = f"cannot reach Postgres as the lab: {exc}"
            return
        super().start(ctx)

    def work(self, ctx: ProbeContext) -> None:
        with self._connect(ctx) as conn:
            while not self._stop.wait(PLANT_EVERY_S):
                marker = f"lab-slow-{secrets.token_hex(4)}"
                seconds = round(self.rng.uniform(*SLOW_RANGE_S), 3)
                conn.execute(f"SELECT pg_sleep({seconds}) /* {marker} */")
                self.slow.append((marker, seconds, datetime.now(timezone.utc)))
                table = f"lab_audit_ddl_{secrets.token_hex(4)}"
                conn.execute(f"CREATE TABLE {table} (x int)")
                conn.execute(f"DROP TABLE {table}")
                self.ddl += [table, table]
                self._change_password(conn)

    def _change_password(self, conn: psycopg.Connection) -> None:
        """A cleartext change, then the verifier it produced set again (what psql's \\password
        sends), and once per run a change that fails (the error path)."""
        password = f"lab-throwaway-{secrets.token_urlsafe(9)}"
        conn.execute(f"ALTER ROLE {THROWAWAY_ROLE} PASSWORD '{password}'")
        self.cleartext.append(password)
        verifier = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (THROWAWAY_ROLE,)).fetchone()[0]
        conn.execute(f"ALTER ROLE {THROWAWAY_ROLE} PASSWORD '{verifier}'")
        self.verifiers.append(verifier)
        if not self.failing:
            failing = f"lab-throwaway-{secrets.token_urlsafe(9)}"
            self.failing.append(failing)
            try:
                conn.execute(f"ALTER ROLE {THROWAWAY_ROLE}_absent PASSWORD '{failing}'")
            except psycopg.errors.UndefinedObject:
                pass

    def values(self, ctx: ProbeContext) -> Values:
        if self.error:
            return {}
        if not self.slow:
            self.error = "planted no statement during the run (is the run shorter than one planting round?)"
            return {}
        pg = postgres.statements_delta(self.pg_before, postgres.statements(ctx.settings.monitor_url))
        # the workload's statements (not the lab's snapshots of pg_stat_statements); the log catches up below
        pg = pg[(pg["user"] == ctx.settings.db_user) & ~pg["query"].str.contains("pg_stat_statements", regex=False)]
        _settled(self.log)  # the logging collector writes within milliseconds of the statement
        texts = [text for text, _ in pglog.entries(self.log, self.offset)]
        frame = pglog.read(self.log, self.offset)
        app = frame[frame["user"] == ctx.settings.db_user]
        found = self._found_slow(frame)
        leaks = audit.scan(texts)
        by_digest = {leak.digest for leak in leaks}
        digests = lambda values: {audit.digest(v) for v in values}  # noqa: E731
        logged_secrets = sum(any(s in t for t in texts) for s in self.cleartext)
        values: Values = {
            "pg_log_bytes": (float(app["bytes"].sum()), "bytes"),
            "pg_log_lines": (float(app["message"].str.count("\n").sum() + len(app)), "lines"),
            "pg_exec_ms": (float(pg[pg["metric"] == "total_exec_time_ms"]["value"].sum()), "ms"),
            "slow_planted": (len(self.slow), "statements"),
            "slow_queries_missed": (len(self.slow) - len(found), "statements"),
            "slow_query_recall": (len(found) / len(self.slow), "share"),
            # what a reader pairing each statement with the next duration line of its backend recovers
            "slow_query_recall_paired": (self._paired(frame) / len(self.slow), "share"),
            "password_leaks": (len(digests(self.cleartext) & by_digest), "passwords"),
            "verifier_leaks": (len(digests(self.verifiers) & by_digest), "verifiers"),
            "error_path_leaks": (len(digests(self.failing) & by_digest), "passwords"),
            # the detector's positive control: a planted password in the log that it did not flag
            "leak_detector_misses": (logged_secrets - len(digests(self.cleartext) & by_digest), "passwords"),
            "ddl_audit_share": (self._ddl_share(frame), "share"),
        }
        if self.delays:  # from the end of a planted statement to its entry in the log
            values["slow_log_delay_max_ms"] = (max(self.delays), "ms")
        writes = self._write_share(pg, app)
        if writes is not None:
            values["write_audit_share"] = (writes, "share")
        return values

    def _found_slow(self, frame: pd.DataFrame, record: bool = True) -> set[str]:
        timed = frame[frame["duration_ms"].notna() & (frame["statement"] != "")]
        found = set()
        for marker, _, ended in self.slow:
            rows = timed[timed["statement"].str.contains(marker, regex=False)]
            if len(rows):
                found.add(marker)
                if record:
                    self.delays.append(max(0.0, (rows["timestamp"].iloc[0] - pd.Timestamp(ended)).total_seconds()
                                           * 1e3))
        return found

    def _ddl_share(self, frame: pd.DataFrame) -> float:
        trail = frame[(frame["class"] == "DDL") & (frame["user"] != "") & (frame["database"] != "")]
        logged = sum(trail["statement"].str.contains(f"TABLE {t}", regex=False).any() for t in set(self.ddl))
        return logged / len(set(self.ddl)) if self.ddl else float("nan")

    def _paired(self, frame: pd.DataFrame) -> int:
        """Planted statements logged without their duration whose backend's next entry is a bare
        duration over the threshold (log_statement plus log_duration/log_min_duration_statement)."""
        recovered = 0
        for marker, _, _ in self.slow:
            hits = frame.index[(frame["kind"] == "statement") & frame["statement"].str.contains(marker, regex=False)]
            if len(hits):
                pid = frame.at[hits[0], "pid"]
                after = frame.loc[hits[0] + 1:]
                nxt = after[after["pid"] == pid].head(1)
                recovered += bool(len(nxt) and nxt["kind"].iloc[0] == "duration"
                                  and nxt["duration_ms"].iloc[0] >= SLOW_THRESHOLD_MS)
        return min(len(self.slow), recovered + len(self._found_slow(frame, record=False)))

    @staticmethod
    def _write_share(pg: pd.DataFrame, app: pd.DataFrame) -> float | None:
        """Workload writes logged with user, database and statement / writes pg_stat_statements counted."""
        calls = pg[pg["metric"] == "calls"]
        executed = float(calls[calls["query"].map(pglog.statement_class) == "WRITE"]["value"].sum())
        if executed == 0:
            return None
        trail = app[(app["class"] == "WRITE") & (app["database"] != "") & (app["statement"] != "")
                    & app["kind"].isin(["statement", "audit", "duration"])]
        return min(1.0, len(trail) / executed)
