"""The lab's own calibration: A/A studies (the same arm twice) and how often they cry wolf.

An A/A study must come out "no change". Over many of them, the share flagged ``significant`` is the
lab's false-positive rate on this machine, and the width of their intervals is roughly the smallest
change the settings can detect.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import patterns as pats
from analysis import stats


def summarize(study_dirs: list[Path]) -> pd.DataFrame:
    """Per metric of the ``aa`` pattern over the given studies: how many were tested, how many were
    flagged significant (the lab's verdict), how many had a raw p < 0.05, the median interval
    half-width, and the noise threshold the metric uses."""
    tables = [stats.compare_study(Path(d)).assign(study=Path(d).name) for d in study_dirs]
    rows = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=stats.COLUMNS + ["study"])
    rows = rows[(rows["pattern"] == "aa") & rows["p_value"].notna()]
    rows = rows[rows["ci_high"] > rows["ci_low"]]  # both arms the same constant (no errors at all): no test
    aa = pats.get("aa")
    out = []
    for metric, g in rows.groupby("metric", sort=False):
        half = ((g["ci_high"] - g["ci_low"]) / 2).median()
        noise = aa.metric(metric).noise
        out.append({"metric": metric, "studies": len(g), "significant": int(g["significant"].astype(bool).sum()),
                    "raw_p_below_0_05": int((g["p_value"] < 0.05).sum()), "median_ci_half_width": half,
                    "noise": noise, "smallest_detectable": noise + half})
    return pd.DataFrame(out, columns=["metric", "studies", "significant", "raw_p_below_0_05",
                                      "median_ci_half_width", "noise", "smallest_detectable"])


def false_positive_rate(summary: pd.DataFrame) -> float:
    """Significant A/A comparisons over all tested ones."""
    tested = summary["studies"].sum()
    return float(summary["significant"].sum() / tested) if tested else float("nan")
