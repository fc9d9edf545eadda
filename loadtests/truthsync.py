"""Clients of TruthSync: ``POST /verify`` and ``POST /verify/batch`` replaying the dataset's
Zipf access sequence, so cache hit rates are comparable between runs and instances.

The dataset comes from ``python -m truthsync.dataset``: a claims file (JSON lines with
``text``) and an access sequence (one claim index per line). Without a sequence file
the claims are drawn with Zipf popularity (``--zipf-s``).
Run:  locust -f loadtests/truthsync.py --host http://127.0.0.1:25080/truthsync --headless -u 20 -t 30s
"""
from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

from locust import FastHttpUser, between, events, task

import common  # noqa: F401  (knobs and the per-request log)
from popularity import Zipf
from shapes import LabShape  # noqa: F401  (the load profile, chosen by --shape)

ROUTES = {"verify": "/verify", "batch": "/verify/batch"}


@events.init_command_line_parser.add_listener
def _truthsync_knobs(parser):
    parser.add_argument("--claims", env_var="LOCUST_CLAIMS", default="",
                        help="claims file: JSON lines with a 'text' field")
    parser.add_argument("--sequence", env_var="LOCUST_SEQUENCE", default="",
                        help="access sequence: one claim index per line (default: Zipf draws)")
    parser.add_argument("--batch-share", type=float, env_var="LOCUST_BATCH_SHARE", default=0.1,
                        help="share of calls that go to /verify/batch")
    parser.add_argument("--batch-size", type=int, env_var="LOCUST_BATCH_SIZE", default=10)


class Claims:
    """The claims and the order they are asked in; one cursor per Locust process."""

    def __init__(self, options):
        if not options.claims:
            raise SystemExit("pass --claims (or LOCUST_CLAIMS) with the file written by python -m truthsync.dataset")
        self.texts = [json.loads(line)["text"] for line in Path(options.claims).read_text().splitlines() if line]
        if options.sequence:
            order = [int(x) for x in Path(options.sequence).read_text().split()]
            self._next = itertools.cycle(order).__next__
        else:
            zipf = Zipf(len(self.texts), options.zipf_s, random.Random(options.seed or None))
            self._next = zipf.rank

    def next(self) -> str:
        return self.texts[self._next() % len(self.texts)]


_claims: Claims | None = None


@events.init.add_listener
def _load_claims(environment, **_):
    global _claims
    if environment.parsed_options is not None:
        _claims = Claims(environment.parsed_options)


class TruthSyncUser(FastHttpUser):
    wait_time = between(0.1, 0.5)

    @task
    def verify(self):
        o = self.environment.parsed_options
        if random.random() < o.batch_share:
            texts = [_claims.next() for _ in range(o.batch_size)]
            self.client.post(ROUTES["batch"], json={"texts": texts}, name=ROUTES["batch"])
        else:
            self.client.post(ROUTES["verify"], json={"text": _claims.next()}, name=ROUTES["verify"])
