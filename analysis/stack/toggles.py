"""Pattern toggles: the switches the lab flips, and which services each one restarts.

A toggle is an environment variable of the services it affects (or a value
rendered into a service's config). Each is declared once, in ``stack/toggle_spec.py``,
which the services read their toggles through too: the lab refuses what a service would.
"""
from __future__ import annotations

from stack.envconfig import ConfigError
from stack.toggle_spec import TOGGLES, ToggleSpec


class ToggleError(ValueError):
    """An unknown toggle or a value it does not accept."""


def check(toggle: ToggleSpec, value: str) -> str:
    """``value`` as the stack will set it, or ``ToggleError`` with the message the service would stop with."""
    try:
        parsed = toggle.parse(value)
    except ConfigError as exc:
        raise ToggleError(str(exc)) from None
    if toggle.integer:
        return str(parsed)
    return parsed if toggle.choices else str(value).strip()


def validate(toggles: dict[str, str]) -> dict[str, str]:
    """Check names and values; an unknown name is an error that lists the known ones."""
    clean = {}
    for name, value in toggles.items():
        if name not in TOGGLES:
            raise ToggleError(f"unknown toggle {name!r}; known toggles: {', '.join(sorted(TOGGLES))}")
        clean[name] = check(TOGGLES[name], value)
    return clean


def defaults() -> dict[str, str]:
    return {t.name: t.default for t in TOGGLES.values()}


def for_service(service: str, toggles: dict[str, str]) -> dict[str, str]:
    """The toggle variables ``service`` sees: defaults overlaid with ``toggles``. Reloadable toggles are
    rendered into config files, not the environment (a changed environment means a restart)."""
    merged = {**defaults(), **toggles}
    return {name: merged[name] for name, t in TOGGLES.items() if t.affects(service) and not t.reload}


def reload_only(service: str, before: dict[str, str], after: dict[str, str]) -> bool:
    """Whether ``service``'s toggles differ between ``before`` and ``after`` and every difference
    is one a config reload applies (no restart needed)."""
    old, new = {**defaults(), **before}, {**defaults(), **after}
    changed = [t for name, t in TOGGLES.items() if t.affects(service) and old[name] != new[name]]
    return bool(changed) and all(t.reload for t in changed)


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """``["A=1", "B=on"]`` → ``{"A": "1", "B": "on"}``, validated."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ToggleError(f"expected NAME=VALUE, got {pair!r}")
        out[name.strip()] = value
    return validate(out)
