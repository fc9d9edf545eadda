"""Noise thresholds: measured on this machine by `sentinel-lab calibrate`, else the patterns' constants.

A change smaller than a metric's noise threshold is not called a change, whatever the p-value.
`sentinel-lab calibrate` stores, per host, the largest change its A/A studies (arms that flip a
no-op toggle and restart the same services a real pattern does) showed per metric; the comparison
then uses that as the threshold and says so (``noise_source``). Latency metrics share the
threshold of the A/A study's latency at the same quantile.
"""
from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from pathlib import Path

from analysis import patterns as pats

MIN_NOISE = 0.01  # a calibrated threshold never goes below 1 %: two A/A studies can agree by luck
CONSTANT = "constant (no calibration of this machine stored)"


def key(metric: pats.Metric) -> str:
    """What a calibrated threshold is stored under: latency by quantile, anything else by name."""
    if metric.source == "latency" and metric.quantile is not None:
        return f"latency_p{metric.quantile * 100:g}"
    return metric.name


def path(results_dir: Path, host: str | None = None) -> Path:
    return Path(results_dir) / "calibration" / f"{host or socket.gethostname()}.json"


@dataclass(frozen=True)
class Thresholds:
    """Calibrated thresholds by ``key``; ``source`` names the file and studies they came from."""

    values: dict[str, float] = field(default_factory=dict)
    source: str = ""

    def noise(self, metric: pats.Metric) -> tuple[float, str]:
        """The threshold for ``metric`` and where it came from."""
        if metric.scale == "relative" and key(metric) in self.values:
            return max(self.values[key(metric)], MIN_NOISE), self.source
        return metric.noise, CONSTANT if not self.source else f"constant (not calibrated in {self.source})"


def load(results_dir: Path, host: str | None = None) -> Thresholds:
    """The stored calibration of ``host`` (default: this machine); empty when there is none."""
    file = path(results_dir, host)
    if not file.exists():
        return Thresholds()
    data = json.loads(file.read_text())
    return Thresholds({k: float(v) for k, v in data.get("thresholds", {}).items()},
                      f"calibration {file} ({len(data.get('studies', []))} A/A studies, {data.get('created', '?')})")


def store(results_dir: Path, thresholds: dict[str, float], studies: list[str], created: str,
          host: str | None = None) -> Path:
    """Write the calibration of ``host`` (default: this machine) and return its path."""
    file = path(results_dir, host)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps({"host": host or socket.gethostname(), "created": created, "studies": studies,
                                "thresholds": thresholds}, indent=2))
    return file
