"""When an allow-listed action may run: once per alert episode, under a cooldown and an hourly budget.

An *episode* is one firing of one alert (Alertmanager's fingerprint and ``startsAt``). Alertmanager
re-sends a firing alert every ``repeat_interval`` and on every change in its group; a repeat of an
episode never acts again. A repeat that arrives after the cooldown (the time an action is given to
work) means the action did not cure: the episode is escalated to a person, once. A flapping alert
opens a new episode each time; the budget (actions per rule per hour) stops it restarting a service
in a loop, and the alert is escalated instead.
"""
from __future__ import annotations

import hashlib
import time
from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from stack.remediator.policy import Policy, Rule

BUDGET_WINDOW_S = 3600.0
MAX_EPISODES = 10_000  # remembered episodes; the oldest are forgotten first


class Verdict(str, Enum):
    ACT = "act"
    SKIP = "skip"  # cooldown, or awaiting the action's effect, or already escalated
    ESCALATE = "escalate"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    why: str


def episode_key(fingerprint: str | None, labels: dict[str, str], starts_at: str | None) -> str:
    """Alertmanager's fingerprint, or a hash of the sorted labels when a sender gives none, plus the start."""
    fp = fingerprint or hashlib.sha256(repr(sorted(labels.items())).encode()).hexdigest()[:16]
    return f"{fp}@{starts_at or ''}"


@dataclass
class _Episode:
    acted_at: float | None = None
    escalated: bool = False


@dataclass
class Guard:
    policy: Policy
    budget_per_h: int
    _episodes: dict[str, _Episode] = field(default_factory=dict)
    _actions: dict[tuple, deque] = field(default_factory=dict)

    def decide(self, episode: str, rule: Rule, now: float | None = None) -> Decision:
        """Whether ``rule`` may act for ``episode`` now; an ACT is counted against the cooldown and budget."""
        now = time.monotonic() if now is None else now
        if episode not in self._episodes and len(self._episodes) >= MAX_EPISODES:
            del self._episodes[next(iter(self._episodes))]
        ep = self._episodes.setdefault(episode, _Episode())
        if ep.escalated:
            return Decision(Verdict.SKIP, "already escalated to a person")
        if ep.acted_at is not None:
            if now - ep.acted_at < self.policy.cooldown_s:
                return Decision(Verdict.SKIP, f"awaiting the action's effect ({self.policy.cooldown_s:g}s)")
            ep.escalated = True
            return Decision(Verdict.ESCALATE, f"not cured: still firing {now - ep.acted_at:.0f}s after "
                                              f"{rule.action} {rule.params}; page a person")
        spent = self.spent(rule, now)
        if spent >= self.budget_per_h:
            ep.escalated = True
            return Decision(Verdict.ESCALATE, f"budget spent: {spent} actions of {rule.action} {rule.params} "
                                              f"in the last hour (at most {self.budget_per_h}); page a person")
        cooling = self.policy.take(rule, now)
        if cooling:
            return Decision(Verdict.SKIP, cooling)
        ep.acted_at = now
        self._actions.setdefault(rule.key, deque()).append(now)
        return Decision(Verdict.ACT, "policy rule")

    def finished(self, episode: str, now: float | None = None) -> None:
        """The episode's action is done: the time it is given to cure counts from now."""
        self._episodes[episode].acted_at = time.monotonic() if now is None else now

    def spent(self, rule: Rule, now: float) -> int:
        """Actions of ``rule`` within the budget window before ``now``."""
        done = self._actions.get(rule.key, deque())
        while done and now - done[0] >= BUDGET_WINDOW_S:
            done.popleft()
        return len(done)

    def charge(self, rule: Rule, now: float | None = None) -> None:
        """Count a direct (n8n) action against the budget."""
        self._actions.setdefault(rule.key, deque()).append(time.monotonic() if now is None else now)
