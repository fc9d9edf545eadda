"""Load profiles as data: a list of stages, each holding a user count for a while.

Pure Python (no Locust import), so the lab and its unit tests can reason about a
profile without gevent's monkey-patching. ``shapes.py`` plays these in Locust.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Stage:
    """Hold ``users`` (reached at ``spawn_rate`` users/s) for ``duration_s``; ``fault`` labels a fault window."""

    duration_s: float
    users: int
    spawn_rate: float
    fault: str | None = None


def constant(users: int, spawn_rate: float, duration_s: float) -> list[Stage]:
    return [Stage(duration_s, users, spawn_rate)]


def step(users: int, spawn_rate: float, duration_s: float, step_users: int, step_s: float) -> list[Stage]:
    """Add ``step_users`` every ``step_s`` up to ``users``, then hold: the capacity staircase."""
    if step_users <= 0 or step_s <= 0:
        raise ValueError("step needs step_users > 0 and step_s > 0 (e.g. --step-users 10 --step-seconds 30)")
    levels = [min(users, step_users * k) for k in range(1, math.ceil(users / step_users) + 1)]
    stages = [Stage(step_s, n, spawn_rate) for n in levels]
    return truncate(stages, duration_s, hold_last=True)


def spike(users: int, spawn_rate: float, duration_s: float, spike_users: int, spike_at_s: float,
          spike_s: float) -> list[Stage]:
    """Base load, a sudden burst to ``spike_users`` at ``spike_at_s`` for ``spike_s``, then base load again."""
    burst_rate = max(spawn_rate, float(spike_users))
    stages = [Stage(spike_at_s, users, spawn_rate), Stage(spike_s, spike_users, burst_rate, "spike"),
              Stage(max(0.0, duration_s - spike_at_s - spike_s), users, burst_rate)]
    return truncate(stages, duration_s)


def schedule(source: str | Path) -> list[Stage]:
    """Stages from JSON (inline text or a file path): ``[{"duration_s", "users", "spawn_rate", "fault"?}, ...]``."""
    text = str(source)
    if not text.lstrip().startswith("["):
        text = Path(text).read_text()
    try:
        raw = json.loads(text)
        return [Stage(float(s["duration_s"]), int(s["users"]), float(s["spawn_rate"]), s.get("fault"))
                for s in raw]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"schedule must be a JSON list of {{duration_s, users, spawn_rate, fault?}}: {exc}") from exc


def truncate(stages: list[Stage], duration_s: float, hold_last: bool = False) -> list[Stage]:
    """Cut the profile at ``duration_s``; with ``hold_last`` the last stage is stretched to fill it."""
    out, t = [], 0.0
    for s in stages:
        if t >= duration_s:
            break
        out.append(Stage(min(s.duration_s, duration_s - t), s.users, s.spawn_rate, s.fault))
        t += out[-1].duration_s
    if hold_last and out and t < duration_s:
        last = out[-1]
        out[-1] = Stage(last.duration_s + duration_s - t, last.users, last.spawn_rate, last.fault)
    return [s for s in out if s.duration_s > 0]


def at(stages: list[Stage], t: float) -> tuple[int, float] | None:
    """(users, spawn_rate) at ``t`` seconds into the run; None once the profile is over."""
    start = 0.0
    for s in stages:
        if t < start + s.duration_s:
            return s.users, s.spawn_rate
        start += s.duration_s
    return None


def windows(stages: list[Stage]) -> list[dict]:
    """Each stage with its start and end offsets, for labelling collected data (fault windows)."""
    out, t = [], 0.0
    for s in stages:
        out.append({"start_s": t, "end_s": t + s.duration_s, **asdict(s)})
        t += s.duration_s
    return out


def build(shape: str, users: int, spawn_rate: float, duration_s: float, **params) -> list[Stage]:
    """The profile named ``shape`` (constant, step, spike, schedule) from its parameters."""
    if shape == "constant":
        return constant(users, spawn_rate, duration_s)
    if shape == "step":
        return step(users, spawn_rate, duration_s, int(params["step_users"]), float(params["step_s"]))
    if shape == "spike":
        return spike(users, spawn_rate, duration_s, int(params["spike_users"]), float(params["spike_at_s"]),
                     float(params["spike_s"]))
    if shape == "schedule":
        if not params.get("schedule"):
            raise ValueError("shape 'schedule' needs --schedule (JSON text or a file of stages)")
        return schedule(params["schedule"])
    raise ValueError(f"unknown shape {shape!r}: choose constant, step, spike or schedule")
