"""Which action answers which alert, and how often: the remediator's policy, as data.

The policy fixes every parameter: an alert names a rule, and a direct call (n8n) may only ask
for a rule the policy already holds. One cooldown per rule (action and parameters), whichever
way the request came, so neither path can restart a service more often than the other allows.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from stack.toggle_spec import TOGGLES

DEFAULT_POLICY = Path(__file__).resolve().parents[1] / "config" / "remediator" / "policy.yml"
#: the defaults of the REMEDIATOR_COOLDOWN_S and REMEDIATOR_BUDGET_PER_H toggles (stack.toggle_spec)
DEFAULT_COOLDOWN_S: float = TOGGLES["REMEDIATOR_COOLDOWN_S"].value
DEFAULT_BUDGET_PER_H: int = TOGGLES["REMEDIATOR_BUDGET_PER_H"].value


@dataclass(frozen=True)
class Rule:
    action: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.action, tuple(sorted(self.params.items()))


@dataclass
class Policy:
    rules: dict[str, Rule]
    cooldown_s: float = DEFAULT_COOLDOWN_S
    _last: dict[tuple, float] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = DEFAULT_POLICY, known_actions: set[str] | None = None,
             cooldown_s: float = DEFAULT_COOLDOWN_S) -> "Policy":
        raw = yaml.safe_load(path.read_text()) or {}
        rules = {name: Rule(r["action"], {k: str(v) for k, v in (r.get("params") or {}).items()})
                 for name, r in (raw.get("rules") or {}).items()}
        if known_actions is not None:
            unknown = {r.action for r in rules.values()} - known_actions
            if unknown:
                raise ValueError(f"{path}: actions {sorted(unknown)} are not allow-listed; "
                                 f"allowed: {sorted(known_actions)}")
        return cls(rules, cooldown_s)

    def fixed(self, action: str, params: dict[str, str]) -> Rule | None:
        """The policy's rule for a direct request of ``action`` with ``params``; None if the policy fixes
        no such rule (record_only, which changes nothing, is always allowed without parameters)."""
        wanted = Rule(action, dict(params))
        if action == "record_only" and not params:
            return wanted
        return next((r for r in self.rules.values() if r.key == wanted.key), None)

    def allowed(self, action: str) -> list[dict[str, str]]:
        """The parameter sets the policy fixes for ``action``, for error messages."""
        return [r.params for r in self.rules.values() if r.action == action]

    def take(self, rule: Rule, now: float | None = None) -> str:
        """Start ``rule``'s cooldown and return "" if it may act now; else why it may not."""
        if rule.action == "record_only":
            return ""
        now = time.monotonic() if now is None else now
        last = self._last.get(rule.key)
        if last is not None and now - last < self.cooldown_s:
            return f"in cooldown ({self.cooldown_s:.0f}s after the last action)"
        self._last[rule.key] = now
        return ""
