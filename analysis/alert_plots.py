"""The alerts page's figures: a played timeline with every rule's firing beneath, and times to detect.

Like ``analysis.plots``: plain frames in, a matplotlib ``Figure`` out, no pyplot.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from analysis import alerts
from analysis.backtest import Played
from analysis.faults import BENIGN, FAULTS

#: one colour per fault class (Okabe-Ito, then greys); benign events are hatched grey.
CLASS_COLOURS = dict(zip(FAULTS, ("#d55e00", "#e69f00", "#cc79a7", "#0072b2", "#56b4e9", "#009e73", "#f0e442")))
BENIGN_COLOUR = "#999999"


def fault_timeline(played: Played, rulesets: list[str]) -> Figure:
    """Fault windows shaded by class (benign events hatched) across the whole figure; beneath, one row
    per rule of ``rulesets`` with its firing episodes as bars."""
    eps = played.episodes[played.episodes["ruleset"].isin(rulesets)]
    rows = [(r, a) for r in rulesets for a in sorted(set(eps.loc[eps["ruleset"] == r, "alertname"]))]
    fig = Figure(figsize=(11, 1.5 + 0.35 * max(len(rows), 1)))
    ax = fig.add_subplot()
    sec = lambda t: (t - played.start).total_seconds()  # noqa: E731
    for w in played.truth.itertuples():
        benign = bool(w.benign)
        ax.axvspan(sec(w.start), sec(w.end), color=BENIGN_COLOUR if benign else CLASS_COLOURS.get(w.kind, "#666"),
                   alpha=0.25, hatch="//" if benign else None, lw=0)
        ax.text((sec(w.start) + sec(w.end)) / 2, len(rows) - 0.4, w.kind, rotation=90, ha="center", va="top",
                fontsize=7, color="#333")
    lead = float(played.truth["lead_in_s"].iloc[0])
    ax.axvspan(0, lead, color="#eeeeee", lw=0)
    for i, (rs, name) in enumerate(rows):
        mine = eps[(eps["ruleset"] == rs) & (eps["alertname"] == name)]
        ax.broken_barh([(sec(e.start), (e.end - e.start).total_seconds()) for e in mine.itertuples()],
                       (i - 0.3, 0.6), color="#333333")
    ax.set_yticks(range(len(rows)), [f"{rs} · {name}" for rs, name in rows], fontsize=8)
    ax.set_ylim(-0.7, max(len(rows), 1) - 0.3)
    ax.set_xlim(0, float(played.truth["length_s"].iloc[0]))
    ax.set_xlabel("seconds from the timeline's start (grey: lead-in, not scored)")
    legend = [Patch(color=c, alpha=0.4, label=k) for k, c in CLASS_COLOURS.items()]
    legend.append(Patch(facecolor=BENIGN_COLOUR, alpha=0.4, hatch="//", label="benign: " + ", ".join(BENIGN)))
    ax.legend(handles=legend, fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    ax.set_title(f"timeline seed {int(played.truth['seed'].iloc[0])}: fault windows and each rule's firing")
    fig.tight_layout()
    return fig


def ttd_distribution(played: list[Played], rulesets: list[str]) -> Figure:
    """Time to detect per rule set, every detected window of every timeline as a dot, the median a bar."""
    fig = Figure(figsize=(8, 3))
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    for i, name in enumerate(rulesets):
        ttd = np.concatenate([alerts.score(p.truth, p.episodes, alerts.RULESETS[name], p.start)
                              .windows.query("detected")["ttd_s"].to_numpy(float) for p in played] or [np.array([])])
        if len(ttd):
            ax.scatter(ttd, i + rng.uniform(-0.15, 0.15, len(ttd)), s=18, alpha=0.7)
            ax.vlines(np.median(ttd), i - 0.3, i + 0.3, color="black")
        else:
            ax.text(0, i, "nothing detected", va="center", fontsize=8)
    ax.set_yticks(range(len(rulesets)), rulesets)
    ax.set_xlabel("time to detect (s from the fault's start)")
    ax.set_title("time to detect, per rule set (bar: median)")
    fig.tight_layout()
    return fig
