"""The lab's own calibration: A/A studies (the same arm twice) and how often they cry wolf.

An A/A study must come out "no change". Over many of them, the share flagged ``significant`` is the
lab's false-positive rate on this machine, and the width of their intervals is roughly the smallest
change the settings can detect. The largest change an A/A study showed per metric is stored as this
machine's noise threshold (analysis.noise), which later comparisons use instead of the constants.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import noise, results
from analysis import patterns as pats
from analysis import stats

SUMMARY_COLUMNS = ["metric", "studies", "significant", "raw_p_below_0_05", "median_ci_half_width",
                   "largest_change", "noise", "smallest_detectable"]


def summarize(study_dirs: list[Path]) -> pd.DataFrame:
    """Per metric of the ``aa`` pattern over the given studies: how many were tested, how many were
    flagged significant (the lab's verdict, judged with the constant thresholds), how many had a raw
    p < 0.05, the median interval half-width, the largest |change|, and the constant noise threshold."""
    tables = [stats.compare_study(Path(d), noise.Thresholds()).assign(study=Path(d).name) for d in study_dirs]
    rows = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=stats.COLUMNS + ["study"])
    rows = rows[(rows["pattern"] == "aa") & rows["p_value"].notna()]
    rows = rows[rows["ci_high"] > rows["ci_low"]]  # both arms the same constant (no errors at all): no test
    aa = pats.get("aa")
    out = []
    for metric, g in rows.groupby("metric", sort=False):
        half = ((g["ci_high"] - g["ci_low"]) / 2).median()
        limit = aa.metric(metric).noise
        out.append({"metric": metric, "studies": len(g), "significant": int(g["significant"].astype(bool).sum()),
                    "raw_p_below_0_05": int((g["p_value"] < 0.05).sum()), "median_ci_half_width": half,
                    "largest_change": float(g["change"].abs().max()), "noise": limit,
                    "smallest_detectable": limit + half})
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


def false_positive_rate(summary: pd.DataFrame) -> float:
    """Significant A/A comparisons over all tested ones."""
    tested = summary["studies"].sum()
    return float(summary["significant"].sum() / tested) if tested else float("nan")


def store(summary: pd.DataFrame, study_dirs: list[Path], results_dir: Path) -> Path:
    """Keep the largest A/A change per relative-scale metric as this machine's noise thresholds."""
    aa = pats.get("aa")
    thresholds = {noise.key(aa.metric(r.metric)): float(r.largest_change)
                  for r in summary.itertuples() if aa.metric(r.metric).scale == "relative"}
    return noise.store(results_dir, thresholds, [Path(d).name for d in study_dirs], results.utc_now())
