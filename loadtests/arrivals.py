"""Open-loop load: requests start at scheduled times, whatever the server's answers do.

Locust is closed loop: a user waits for its response before the next request, so an overloaded
server slows its own load down and the latencies hide the queue (coordinated omission). Here a
per-process clock draws a Poisson arrival process whose rate steps through ``--arrival-rates``
(one level every ``--arrival-level-seconds``); a pool of users takes the arrivals in turn, each
sleeping until its request's *intended* start. The intended start travels in the request's
context, so the per-request log records latency from the intended start next to the ordinary
response time. With ``--processes N`` each process draws at rate / ``--arrival-processes``: the
union of independent Poisson processes is Poisson at the full rate.
"""
from __future__ import annotations

import json
import os
import random
import time

from locust import events

ARRIVALS_FILE_ENV = "LAB_ARRIVALS_FILE"


@events.init_command_line_parser.add_listener
def _arrival_knobs(parser):
    parser.add_argument("--arrival-rates", env_var="LOCUST_ARRIVAL_RATES", default="",
                        help="open loop: arrivals per second at each level, comma-separated (e.g. 20,40,80)")
    parser.add_argument("--arrival-level-seconds", type=float, env_var="LOCUST_ARRIVAL_LEVEL_SECONDS", default=10.0)
    parser.add_argument("--arrival-processes", type=int, env_var="LOCUST_ARRIVAL_PROCESSES", default=1,
                        help="how many Locust processes share the arrival rate")


class ArrivalClock:
    """Intended start times of this process's share of the arrivals; None once the schedule is over."""

    def __init__(self, rates: list[float], level_s: float, share: float, t0: float, seed: int | None = None):
        if not rates or any(r <= 0 for r in rates) or level_s <= 0:
            raise ValueError("--arrival-rates needs positive rates and --arrival-level-seconds > 0")
        self.rates, self.level_s, self.share, self.t0 = rates, level_s, share, t0
        self.rng = random.Random(seed)
        self.t = t0

    def next(self) -> float | None:
        level = int((self.t - self.t0) // self.level_s)
        if level >= len(self.rates):
            return None
        self.t += self.rng.expovariate(self.rates[level] * self.share)
        end = self.t0 + self.level_s * len(self.rates)
        return self.t if self.t < end else None

    def profile(self) -> dict:
        """The levels as the lab reads load profiles: the level's rate in ``users``."""
        return {"shape": "open-loop", "stages": [
            {"start": self.t0 + i * self.level_s, "end": self.t0 + (i + 1) * self.level_s, "users": rate,
             "spawn_rate": 0.0, "fault": None} for i, rate in enumerate(self.rates)]}


class Clock:
    """The process's clock, started with the test; ``value`` is None in a closed-loop run."""

    value: ArrivalClock | None = None


@events.test_start.add_listener
def _start(environment, **_):
    o = environment.parsed_options
    if o is None or not o.arrival_rates:
        return
    rates = [float(r) for r in o.arrival_rates.split(",") if r.strip()]
    Clock.value = ArrivalClock(rates, o.arrival_level_seconds, 1.0 / max(1, o.arrival_processes), time.time(),
                               (o.seed or None) and o.seed + os.getpid())
    path = os.environ.get(ARRIVALS_FILE_ENV)
    if path and not os.path.exists(path):
        with open(path, "w") as f:
            json.dump(Clock.value.profile(), f)
