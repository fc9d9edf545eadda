"""promtool unit tests generated from a real, labelled timeline.

For each rule set, the series its rules read are recorded from Prometheus
around a fault window one of its alerts caught and around a benign window none
of its alerts fired in, and written as a ``promtool test rules`` file in
``stack/config/prometheus/tests/``: the fault must fire the alert, the benign
event must not. A rule edited later so it no longer catches what it caught
fails ``make test``. ``python -m analysis.ruletests STUDY_DIR`` regenerates them.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pandas as pd
import yaml

from analysis import alerts
from analysis.collect.prometheus import Prometheus
from analysis.settings import Settings

PROM_DIR = alerts.RULES_DIR.parent
TESTS_DIR = PROM_DIR / "tests"
HISTORY_S = 30  # recorded before a window; 70 s for sets whose rules read a [1m] range (offset 5s)
#: each set's test loads only the rule files it needs (the recording rules live in alerts-single.yml; the
#: correlated rules' log signals in log-signals/, mtail's locally), paths from stack/config/prometheus/
RULE_FILES = {"single": ("rules/alerts-single.yml",),
              "correlated": ("rules/alerts-single.yml", "log-signals/mtail.yml", "rules/alerts-correlated.yml"),
              "burnrate": ("rules/alerts-single.yml", "rules/alerts-burnrate.yml"), "nginx": ("rules/alerts-nginx.yml",)}
#: the series the lab's rules read, summed over the labels the rules do not use
INPUTS = {
    "http_requests_total": ("service", "status"),
    "http_request_duration_highr_seconds_bucket": ("service", "le"),
    "http_request_duration_highr_seconds_count": ("service",),
    "sentinel_log_errors_total": (),
    "sentinel_log_slow_statements_total": (),
    "sentinel_redis_errors_total": (),
    "sentinel_nginx_responses_total": ("status",),
    "nginx_http_requests_total": (),
    "nginx_connections_reading": (),
    "redis_up": (),
    "up": ("service",),
}


def inputs(ruleset: str) -> dict[str, tuple[str, ...]]:
    """The INPUTS the set's rule files read."""
    text = "".join((PROM_DIR / f).read_text() for f in RULE_FILES[ruleset])
    return {k: v for k, v in INPUTS.items() if re.search(rf"\b{k}\s*[{{\[)]", text)}


def _series(prom: Prometheus, start, end, wanted: dict[str, tuple[str, ...]]) -> list[dict]:
    """The ``wanted`` input series over [start, end] at 1 s, in promtool's ``input_series`` form."""
    out = []
    steps = pd.date_range(start, end, freq="1s")
    for name, by in wanted.items():
        agg = "max" if name in ("redis_up", "up", "nginx_connections_reading") else "sum"
        frame = prom.range(f"{agg} by ({', '.join(by)}) ({name})" if by else f"{agg}({name})", start, end, step="1s")
        if frame.empty:
            continue
        keys = [c for c in by if c in frame.columns]
        for labels, g in (frame.groupby(keys) if keys else [((), frame)]):
            labels = labels if isinstance(labels, tuple) else (labels,)
            at = dict(zip(g["timestamp"].dt.floor("s"), g["value"]))
            values = " ".join(_num(at.get(t.floor("s"))) for t in steps)
            selector = ", ".join(f'{k}="{v}"' for k, v in zip(keys, labels))
            out.append({"series": f"{name}{{{selector}}}", "values": values})
    return out


def _num(v) -> str:
    return "_" if v is None or v != v else f"{float(v):.6g}"


def history_s(ruleset: str) -> int:
    text = "".join((PROM_DIR / f).read_text() for f in RULE_FILES[ruleset])
    return HISTORY_S + 40 if "[1m]" in text else HISTORY_S


def case(prom: Prometheus, window, fired: list[tuple[str, float]], silent: list[str], labels: dict[str, dict],
         wanted: dict[str, tuple[str, ...]], history: int = HISTORY_S, timeline: str = "") -> dict:
    """One test: the series around ``window``; ``fired`` (alertname, seconds after the window's start
    it was firing) must fire there, ``silent`` alerts must not fire at the window's end."""
    start = window.start - timedelta(seconds=history)
    end = window.end + timedelta(seconds=alerts.GRACE_S)
    offset = lambda t: int((t - start).total_seconds())  # noqa: E731
    tests = [{"eval_time": f"{offset(window.start) + int(at)}s", "alertname": name,
              "exp_alerts": [labels[name]]} for name, at in fired]
    tests += [{"eval_time": f"{offset(window.end)}s", "alertname": name, "exp_alerts": []} for name in silent]
    return {"name": f"{timeline} {window.kind} ({'benign' if window.benign else 'fault'})".strip(), "interval": "1s",
            "input_series": _series(prom, start, end, wanted), "alert_rule_test": tests}


def _alert_labels(ruleset: str) -> dict[str, dict]:
    """alertname → what promtool must see when it fires (its static labels and annotations)."""
    out = {}
    for path in sorted(alerts.RULES_DIR.glob("alerts-*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") and rule.get("labels", {}).get("ruleset") == ruleset:
                    out[rule["alert"]] = {"exp_labels": dict(rule["labels"]),
                                          "exp_annotations": dict(rule.get("annotations") or {})}
    return out


def generate(study_dir: Path, settings: Settings, repeats: list[int] | None = None,
             out_dir: Path = TESTS_DIR) -> list[Path]:
    """Write one promtool test file per lab rule set from the study's played timelines ``repeats``
    (default: all): each fault class the set caught once (from the first timeline that caught it), and
    the benign events of the first timeline."""
    played = sorted((Path(study_dir) / "timelines").glob("r*/truth.parquet"), key=lambda p: int(p.parent.name[1:]))
    chosen = [p.parent for p in played if repeats is None or int(p.parent.name[1:]) in repeats]
    if not chosen:
        raise FileNotFoundError(f"no played timeline {repeats or ''} in {study_dir}/timelines")
    prom, written = Prometheus(settings.url("prometheus")), []
    for name in RULE_FILES:
        labels, tests, wanted, caught = _alert_labels(name), [], inputs(name), set()
        for n, where in enumerate(chosen):
            truth, eps = pd.read_parquet(where / "truth.parquet"), pd.read_parquet(where / "episodes.parquet")
            mine = eps[eps["ruleset"] == name]
            for w in truth[~truth["benign"] & truth["kind"].isin(alerts.RULESETS[name].covers)].itertuples():
                # an episode that started inside the window (or its grace) and lasted 2 s: not a one-sample blip
                hits = mine[(mine["start"] >= w.start) & (mine["start"] <= w.end + timedelta(seconds=alerts.GRACE_S))
                            & (mine["end"] - mine["start"] >= timedelta(seconds=2))]
                if len(hits) and w.kind not in caught:
                    caught.add(w.kind)
                    h = hits.sort_values("start").iloc[0]
                    tests.append(case(prom, w, [(h["alertname"], (h["start"] - w.start).total_seconds() + 1)], [],
                                      labels, wanted, history_s(name), where.name))
            for w in truth[truth["benign"]].itertuples() if n == 0 else ():
                # an alert still firing as the event began (a fault before it) is not the event's; silent
                # means not firing at the event's end, so only alerts around the event itself are excused
                grace = timedelta(seconds=alerts.GRACE_S)
                busy = set(mine[(mine["start"] <= w.end + grace) & (mine["end"] >= w.start - grace)]["alertname"])
                silent = sorted(set(labels) - busy)
                if silent:
                    tests.append(case(prom, w, [], silent, labels, wanted, history_s(name), where.name))
        path = out_dir / f"{name}.yml"
        header = (f"# Generated by `python -m analysis.ruletests` from timelines {', '.join(p.name for p in chosen)} of "
                  f"study {Path(study_dir).name}: a fault its rules caught must fire them, a benign event must not.\n")
        _write(path, header, name, tests)
        done = check([path], out_dir)
        failed = set(re.findall(r"\bname: (.+?),\n", done.stdout + done.stderr))
        if failed:  # sampled at 1 s, a borderline case may not replay exactly: left out, and said so
            header += "".join(f"# left out (did not replay offline): {n}\n" for n in sorted(failed))
            _write(path, header, name, [t for t in tests if t["name"] not in failed])
        written.append(path)
    return written


def _write(path: Path, header: str, ruleset: str, tests: list[dict]) -> None:
    doc = {"rule_files": [f"../{f}" for f in RULE_FILES[ruleset]], "evaluation_interval": "1s", "tests": tests}
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False, width=10_000))


def check(paths: list[Path], cwd: Path = TESTS_DIR) -> subprocess.CompletedProcess:
    """``promtool test rules`` on ``paths`` (rule files resolve from ``cwd``); its own words on failure."""
    if not shutil.which("promtool"):
        raise RuntimeError("promtool is not installed: run `make deps`")
    return subprocess.run(["promtool", "test", "rules", *map(str, paths)], capture_output=True, text=True,
                          cwd=cwd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study_dir", type=Path, help="a study with correlated-alerts or nginx-metrics runs")
    parser.add_argument("--repeats", type=int, nargs="*", help="timelines to use (default: all)")
    args = parser.parse_args()
    paths = generate(args.study_dir, Settings.from_env(), args.repeats)
    done = check(paths)
    print(done.stdout + done.stderr)
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
