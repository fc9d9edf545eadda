"""The P7 page's figures and tables: every pg-audit arm of a study side by side, from stored runs.

Each arm is its own pattern (``pg-audit`` is the design's configuration, ``pg-audit-<arm>`` the
others), all against the same baseline (no statement logging); this module lines them up and
writes the recommendation table from the measured figures, never from expectations.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import patterns, results
from analysis.report import PatternData

OVERHEAD = ("throughput_rps", "p95_ms")
P95_BOUND, THROUGHPUT_BOUND = 0.10, -0.05  # the claim's bounds (patterns: at_most +10 % p95, no regression beyond 5 %)
FIGURES = ("pg_log_bytes_per_request", "pg_log_lines_per_request", "slow_query_recall", "slow_query_recall_paired",
           "slow_log_delay_max_ms", "password_leaks", "verifier_leaks", "error_path_leaks", "write_audit_share",
           "ddl_audit_share")


def arm_of(pattern_id: str) -> str:
    """``pg-audit`` → ``design``; ``pg-audit-min0`` → ``min0``."""
    return "design" if pattern_id == "pg-audit" else pattern_id.removeprefix("pg-audit-")


def audit_patterns(meta: results.StudyMeta) -> list[str]:
    return [p for p in meta.patterns if p == "pg-audit" or p.startswith("pg-audit-")]


def overhead_rows(arms: list[PatternData]) -> tuple[pd.DataFrame, dict]:
    """Throughput and p95 change per arm, labelled ``<arm> · <metric>``, and their claimed bands."""
    rows, bands = [], {}
    for data in arms:
        arm = arm_of(data.pattern.id)
        for metric in OVERHEAD:
            row = data.comparison[data.comparison["metric"] == metric]
            if len(row):
                rows.append(row.iloc[0].to_dict() | {"metric": f"{arm} · {metric}"})
        bands[f"{arm} · p95_ms"] = (None, P95_BOUND)
        bands[f"{arm} · throughput_rps"] = (THROUGHPUT_BOUND, None)
    return pd.DataFrame(rows), bands


def figures(arms: list[PatternData]) -> pd.DataFrame:
    """Per arm, the treatment runs' mean of each figure (the baseline, no logging, is the same for all)."""
    out = []
    for data in arms:
        t = data.per_run[data.per_run["arm"] == "treatment"]
        means = t.groupby("metric")["value"].mean()
        out.append({"arm": arm_of(data.pattern.id), "runs": t["run_id"].nunique(),
                    **{m: float(means.get(m, np.nan)) for m in FIGURES}})
    return pd.DataFrame(out, columns=["arm", "runs", *FIGURES])


@dataclass(frozen=True)
class Guarantee:
    name: str
    holds: bool
    figure: str


def guarantees(row: pd.Series, overhead: pd.DataFrame) -> list[Guarantee]:
    """What one arm gives, judged from its measured figures."""
    arm = row["arm"]
    change = {m: overhead.loc[overhead["metric"] == f"{arm} · {m}", "ci_high" if m == "p95_ms" else "ci_low"]
              for m in OVERHEAD}
    p95 = float(change["p95_ms"].iloc[0]) if len(change["p95_ms"]) else np.nan
    tput = float(change["throughput_rps"].iloc[0]) if len(change["throughput_rps"]) else np.nan
    return [
        Guarantee("cheap", bool(p95 <= P95_BOUND and tput >= THROUGHPUT_BOUND),
                  f"p95 up to {p95:+.0%}, throughput down to {tput:+.0%} (95 % CI bounds)"),
        Guarantee("finds slow queries", bool(row["slow_query_recall"] >= 1.0),
                  f"recall {row['slow_query_recall']:.0%} (paired by backend: {row['slow_query_recall_paired']:.0%})"),
        Guarantee("audit trail of writes", bool(row["write_audit_share"] >= 0.99 and row["ddl_audit_share"] >= 0.99),
                  f"writes {row['write_audit_share']:.0%}, DDL {row['ddl_audit_share']:.0%}"),
        Guarantee("no password in the log", bool(row["password_leaks"] == 0),
                  f"{row['password_leaks']:.1f} cleartext and {row['verifier_leaks']:.1f} verifiers per run"),
    ]


def recommendations(table: pd.DataFrame, overhead: pd.DataFrame) -> pd.DataFrame:
    """One row per arm: each guarantee as ✓/✗ with its figure, then the log volume it costs."""
    out = []
    for _, row in table.iterrows():
        given = guarantees(row, overhead)
        out.append({"arm": row["arm"], **{g.name: ("✓ " if g.holds else "✗ ") + g.figure for g in given},
                    "log bytes/request": f"{row['pg_log_bytes_per_request']:.0f}",
                    "gives": ", ".join(g.name for g in given if g.holds) or "none of these"})
    return pd.DataFrame(out)


def setting_of(arm: str) -> str:
    """The postgresql.conf lines an arm stands for, from its toggles."""
    toggles = patterns.PG_AUDIT_ARMS[arm]
    return f"PG_AUDIT={toggles['PG_AUDIT']}, log_min_duration_statement={toggles['PG_LOG_MIN_DURATION_MS']}"
