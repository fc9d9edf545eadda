"""Users of the Sentinel API: log in, read dashboards, browse and open incidents, write
some (``--write-share``), and listen on the notification stream.

Tenants and users are drawn from the seeded data with Zipf popularity (``--zipf-s``).
Route paths live in ROUTES below, in one place; users and passwords come from the
seeder's own ``stack.api.seed.logins`` (pass the seed ``--scale``).
Run:  locust -f loadtests/api.py --host http://127.0.0.1:25080 --headless -u 20 -r 5 -t 30s
"""
from __future__ import annotations

import random
import time

import gevent
from locust import FastHttpUser, constant, events, task

import common  # knobs, the per-request log
from arrivals import Clock  # open-loop arrivals (--arrival-rates)
from popularity import Zipf
from shapes import LabShape  # noqa: F401  (the load profile, chosen by --shape)
from stack.api.seed import SCALES, Login, logins

ROUTES = {
    "login": "/api/v1/auth/login",
    "logout": "/api/v1/auth/logout",
    "dashboard": "/api/v1/dashboard/{tenant_id}",
    "incidents": "/api/v1/incidents",
    "incident": "/api/v1/incidents/{incident_id}",
    "stream": "/api/v1/notifications/stream",
}
SEVERITIES = ("low", "medium", "high", "critical")


@events.init_command_line_parser.add_listener
def _api_knobs(parser):
    parser.add_argument("--write-share", type=float, env_var="LOCUST_WRITE_SHARE", default=0.1,
                        help="share of journey steps that create or update an incident")
    parser.add_argument("--scale", env_var="LOCUST_SCALE", default="small", choices=sorted(SCALES),
                        help="the seed scale the API's database was loaded with (python -m stack.api.seed)")
    parser.add_argument("--think-scale", type=float, env_var="LOCUST_THINK_SCALE", default=1.0,
                        help="scales each user's think time (0.5-2 s between steps); 0: none (capacity steps)")
    parser.add_argument("--listen-seconds", type=float, env_var="LOCUST_LISTEN_SECONDS", default=5.0,
                        help="how long a listening user keeps the notification stream open")


class Population:
    """The seeded users by tenant; a tenant is drawn with Zipf popularity (tenant 1 is the biggest),
    then one of its users, again Zipf, so a few users make most of the traffic."""

    def __init__(self, options):
        self.by_tenant: dict[int, list[Login]] = {}
        for login in logins(options.scale):
            self.by_tenant.setdefault(login.tenant_id, []).append(login)
        rng = random.Random(options.seed or None)
        self.tenants = sorted(self.by_tenant)
        self._tenant = Zipf(len(self.tenants), options.zipf_s, rng)
        self._user = {t: Zipf(len(users), options.zipf_s, rng) for t, users in self.by_tenant.items()}

    def draw(self) -> Login:
        tenant = self._tenant.pick(self.tenants)
        return self._user[tenant].pick(self.by_tenant[tenant])


population = common.PerProcess(Population)


class RunEnd:
    """When this run's time limit (``-t``) ends; None under a load shape, which ends when it likes."""

    at: float | None = None


@events.test_start.add_listener
def _run_end(environment, **_):
    run_time = environment.parsed_options and environment.parsed_options.run_time
    RunEnd.at = time.time() + run_time if run_time else None


class ApiUser(FastHttpUser):
    def wait_time(self) -> float:
        return random.uniform(0.5, 2.0) * self.environment.parsed_options.think_scale

    def on_start(self):
        login = population.value.draw()
        self.tenant, self.user = login.tenant_id, login.user_id
        self.incident_ids: list[int] = []
        self.headers = {}
        creds = {"username": login.username, "password": login.password}
        with self.client.post(ROUTES["login"], json=creds, name=ROUTES["login"], catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"login failed: {r.status_code}")  # one failure row, not one per user
                return
            token = (r.json() or {}).get("access_token") or (r.json() or {}).get("token")
            self.headers = {"Authorization": f"Bearer {token}"}

    def on_stop(self):
        if self.headers:
            self.client.post(ROUTES["logout"], headers=self.headers, name=ROUTES["logout"])

    @task(10)
    def step(self):
        """One journey step: a write with probability --write-share, otherwise a read."""
        if random.random() < self.environment.parsed_options.write_share:
            self.update_incident() if self.incident_ids and random.random() < 0.5 else self.create_incident()
        else:
            random.choices([self.dashboard, self.list_incidents, self.open_incident], weights=[4, 3, 3])[0]()

    @task(1)
    def listen(self):
        """Keep the notification stream open for a while, as the frontend's bell does."""
        seconds = self.environment.parsed_options.listen_seconds
        if RunEnd.at is not None:  # not past the run's end: Locust would wait out its stop timeout on it
            seconds = max(0.1, min(seconds, RunEnd.at - time.time()))
        with self.client.get(ROUTES["stream"], headers=self.headers, stream=True, name=ROUTES["stream"],
                             catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"stream refused: {r.status_code}")
                return
            with gevent.Timeout(seconds, False):
                while r.stream.read(1024):
                    pass

    def dashboard(self):
        self.client.get(ROUTES["dashboard"].format(tenant_id=self.tenant), headers=self.headers,
                        name=ROUTES["dashboard"])

    def list_incidents(self):
        with self.client.get(ROUTES["incidents"], headers=self.headers, name=ROUTES["incidents"],
                             catch_response=True) as r:
            if r.status_code == 200:
                body = r.json()
                items = body if isinstance(body, list) else body.get("items", [])
                self.incident_ids = [i["id"] for i in items if "id" in i][:50]

    def open_incident(self):
        if not self.incident_ids:
            return self.list_incidents()
        self.client.get(ROUTES["incident"].format(incident_id=random.choice(self.incident_ids)),
                        headers=self.headers, name=ROUTES["incident"])

    def create_incident(self):
        body = {"title": f"load test incident from user {self.user}", "severity": random.choice(SEVERITIES),
                "service": random.choice(["api", "worker", "postgres", "redis", "nginx"])}
        with self.client.post(ROUTES["incidents"], json=body, headers=self.headers, name=ROUTES["incidents"],
                              catch_response=True) as r:
            if r.status_code in (200, 201):
                self.incident_ids.append(r.json()["id"])

    def update_incident(self):
        incident = random.choice(self.incident_ids)
        self.client.patch(ROUTES["incident"].format(incident_id=incident), headers=self.headers,
                          json={"status": random.choice(["acknowledged", "resolved"])}, name=ROUTES["incident"])


class OpenLoopApiUser(ApiUser):
    """Open loop (``--arrival-rates``): each arrival is one journey step, started at its scheduled time
    by whichever user of the pool is free; its latency is also measured from that intended time."""

    wait_time = constant(0)
    intended: float | None = None

    def context(self) -> dict:
        return {"intended": self.intended}

    def arrival(self):
        self.intended = Clock.value.next() if Clock.value else None
        if self.intended is None:  # the schedule is over (or this is not an open-loop run): idle
            return gevent.sleep(1.0)
        gevent.sleep(max(0.0, self.intended - time.time()))
        self.step()


# Set after the class body: Locust's metaclass adds the inherited @task methods (step, listen) to a
# ``tasks`` declared in the body, and those would run closed loop, re-using the last intended time.
OpenLoopApiUser.tasks = [OpenLoopApiUser.arrival]


@events.init.add_listener
def _one_loop(environment, **_):
    """The arrival rates choose the loop: closed (ApiUser) without them, open (OpenLoopApiUser) with them.
    A run that names no class would otherwise spawn both (Locust runs every class of the file): half its
    users idle, waiting for arrivals that never come, in a closed-loop run."""
    o = environment.parsed_options
    if o is None:
        return
    wanted = OpenLoopApiUser if o.arrival_rates else ApiUser
    environment.user_classes[:] = [c for c in environment.user_classes if c is wanted] or environment.user_classes
