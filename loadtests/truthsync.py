"""Clients of TruthSync: ``POST /verify`` and ``POST /verify/batch`` replaying the dataset's
Zipf access sequence, so cache hit rates are comparable between runs and instances.

The dataset is a directory written by ``python -m truthsync.dataset`` (``corpus.csv`` and
``access.npy``, the corpus rows in access order); ``--dataset`` defaults to the newest one
under .lab/datasets/truthsync/. Each Locust process walks the sequence from its start. (This file's name hides the
``truthsync`` package inside Locust, hence no import from it.)
Run:  locust -f loadtests/truthsync.py --host http://127.0.0.1:25080/truthsync --headless -u 20 -t 30s
"""
from __future__ import annotations

import csv
import itertools
import random
from pathlib import Path

import numpy as np
from locust import FastHttpUser, between, events, task

import common  # knobs, the per-request log
from shapes import LabShape  # noqa: F401  (the load profile, chosen by --shape)

ROUTES = {"verify": "/verify", "batch": "/verify/batch"}
DATASETS = Path(__file__).resolve().parent.parent / ".lab" / "datasets" / "truthsync"


@events.init_command_line_parser.add_listener
def _truthsync_knobs(parser):
    parser.add_argument("--dataset", env_var="LOCUST_DATASET", default="",
                        help="dataset directory (python -m truthsync.dataset); default: the newest in " + str(DATASETS))
    parser.add_argument("--batch-share", type=float, env_var="LOCUST_BATCH_SHARE", default=0.1,
                        help="share of calls that go to /verify/batch")
    parser.add_argument("--batch-size", type=int, env_var="LOCUST_BATCH_SIZE", default=10)


class Claims:
    """The corpus and the order its texts are asked in; one cursor per Locust process."""

    def __init__(self, options):
        directory = Path(options.dataset) if options.dataset else _newest(DATASETS)
        with (directory / "corpus.csv").open(newline="") as f:  # the indices of access.npy are its rows
            self.texts = [row["text"] for row in csv.DictReader(f)]
        self._order = itertools.cycle(np.load(directory / "access.npy").tolist())

    def next(self) -> str:
        return self.texts[next(self._order)]


def _newest(root: Path) -> Path:
    found = sorted((p for p in root.glob("*") if (p / "access.npy").exists()), key=lambda p: p.stat().st_mtime)
    if not found:
        raise SystemExit(f"no TruthSync dataset under {root}: run python -m truthsync.dataset, or pass --dataset")
    return found[-1]


claims = common.PerProcess(Claims)


class TruthSyncUser(FastHttpUser):
    wait_time = between(0.1, 0.5)

    @task
    def verify(self):
        o = self.environment.parsed_options
        if random.random() < o.batch_share:
            texts = [claims.value.next() for _ in range(o.batch_size)]
            self.client.post(ROUTES["batch"], json={"texts": texts}, name=ROUTES["batch"])
        else:
            self.client.post(ROUTES["verify"], json={"text": claims.value.next()}, name=ROUTES["verify"])
