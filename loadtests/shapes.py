"""One load shape that plays the profile chosen by ``--shape`` (constant, step, spike, schedule).

Import ``LabShape`` into a locustfile. It reads ``-u``, ``-r`` and ``-t`` like a plain run
(``use_common_options``), so a constant run behaves as without a shape, and the other
shapes take their parameters from the options below (or ``LOCUST_*`` variables).
The profile, with each stage's start and end as Unix times, goes to ``$LAB_PROFILE_FILE``
so the lab can label its data with load levels and fault windows.
"""
from __future__ import annotations

import json
import logging
import os
import time

from locust import LoadTestShape, events

import stages


@events.init_command_line_parser.add_listener
def _shape_knobs(parser):
    parser.add_argument("--shape", env_var="LOCUST_SHAPE", default="constant",
                        choices=["constant", "step", "spike", "schedule"], help="load profile")
    parser.add_argument("--step-users", type=int, env_var="LOCUST_STEP_USERS", default=10)
    parser.add_argument("--step-seconds", type=float, env_var="LOCUST_STEP_SECONDS", default=30.0)
    parser.add_argument("--spike-users", type=int, env_var="LOCUST_SPIKE_USERS", default=0,
                        help="users during the spike (default: 5x --users)")
    parser.add_argument("--spike-at", type=float, env_var="LOCUST_SPIKE_AT", default=0.0,
                        help="seconds into the run (default: a third of the run time)")
    parser.add_argument("--spike-seconds", type=float, env_var="LOCUST_SPIKE_SECONDS", default=10.0)
    parser.add_argument("--schedule", env_var="LOCUST_SCHEDULE", default="",
                        help="JSON list of stages (or a file of it): duration_s, users, spawn_rate, fault")


class LabShape(LoadTestShape):
    use_common_options = True

    def __init__(self):
        super().__init__()
        self.profile: list[stages.Stage] | None = None

    def _build(self) -> list[stages.Stage]:
        o = self.runner.environment.parsed_options
        users, rate = int(o.num_users or 1), float(o.spawn_rate or 1)
        duration = float(o.run_time or 0) or float("inf")
        profile = stages.build(o.shape, users, rate, duration, step_users=o.step_users, step_s=o.step_seconds,
                               spike_users=o.spike_users or 5 * users,
                               spike_at_s=o.spike_at or duration / 3, spike_s=o.spike_seconds,
                               schedule=o.schedule)
        logging.info("load profile %s: %s", o.shape, profile)
        if os.environ.get("LAB_PROFILE_FILE"):
            t0 = time.time() - self.get_run_time()
            windows = [{**w, "start": t0 + w["start_s"], "end": t0 + w["end_s"]} for w in stages.windows(profile)]
            with open(os.environ["LAB_PROFILE_FILE"], "w") as f:
                json.dump({"shape": o.shape, "stages": windows}, f, default=str)
        return profile

    def tick(self):
        if self.profile is None:
            self.profile = self._build()
        return stages.at(self.profile, self.get_run_time())
