"""Where a run was measured: the machine and the code, recorded in every run's meta.json."""
from __future__ import annotations

import os
import platform
import subprocess

from analysis.settings import REPO


def machine() -> dict:
    load1, _, _ = os.getloadavg()
    return {"hostname": platform.node(), "platform": platform.platform(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "load_1m": load1,
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty", "--abbrev=40"],
                             capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    return out.stdout.strip() or None
