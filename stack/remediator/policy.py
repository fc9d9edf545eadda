"""Which action answers which alert, and how often: the remediator's policy, as data."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFAULT_POLICY = Path(__file__).resolve().parents[1] / "config" / "remediator" / "policy.yml"


@dataclass(frozen=True)
class Rule:
    action: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Policy:
    rules: dict[str, Rule]
    cooldown_s: float = 60.0
    _last: dict[str, float] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = DEFAULT_POLICY, known_actions: set[str] | None = None) -> "Policy":
        raw = yaml.safe_load(path.read_text()) or {}
        rules = {name: Rule(r["action"], {k: str(v) for k, v in (r.get("params") or {}).items()})
                 for name, r in (raw.get("rules") or {}).items()}
        if known_actions is not None:
            unknown = {r.action for r in rules.values()} - known_actions
            if unknown:
                raise ValueError(f"{path}: actions {sorted(unknown)} are not allow-listed; "
                                 f"allowed: {sorted(known_actions)}")
        return cls(rules, float(raw.get("cooldown_s", 60)))

    def decide(self, alertname: str, now: float | None = None) -> tuple[Rule, str]:
        """The rule for ``alertname`` and why: unknown alerts and alerts in cooldown are only recorded."""
        now = time.monotonic() if now is None else now
        rule = self.rules.get(alertname)
        if rule is None:
            return Rule("record_only"), "no rule for this alert"
        last = self._last.get(alertname)
        if rule.action != "record_only" and last is not None and now - last < self.cooldown_s:
            return Rule("record_only"), f"in cooldown ({self.cooldown_s:.0f}s after the last action)"
        if rule.action != "record_only":
            self._last[alertname] = now
        return rule, "policy rule"
