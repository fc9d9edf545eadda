"""Which TruthSync instances Nginx routes to: the first ``TRUTHSYNC_INSTANCES`` of those running.

The stack runs ``LAB_TRUTHSYNC_INSTANCES`` instances (``truthsync-1`` … ``truthsync-N``, stack/replicas.py);
the toggle ``TRUTHSYNC_INSTANCES`` (stack/toggle_spec.py) narrows Nginx's upstream to the first N of them,
so a study can sweep the number of instances between runs without restarting the stack (only Nginx
restarts). ``0`` (the default) routes to every running instance. Instances left out get no traffic from
the workload, so the servers' own counters (the L2 hit ratio, summed over instances) count only the
routed ones. A value above the running instances is refused before anything changes.
"""
from __future__ import annotations

from analysis.stack.toggles import ToggleError
from stack.replicas import replica_of
from stack.toggle_spec import TOGGLES

TOGGLE = TOGGLES["TRUTHSYNC_INSTANCES"]
EVERY = 0  # the toggle's value meaning "every running instance"


def wanted(toggle_values: dict[str, str]) -> int:
    """The toggle's value in ``toggle_values`` (its default when unset): 0 means every instance."""
    return TOGGLE.read(toggle_values)


def check(toggle_values: dict[str, str], running: int) -> None:
    """``ToggleError`` when ``toggle_values`` ask Nginx to route to more instances than the ``running`` ones."""
    n = wanted(toggle_values)
    if n > running:
        raise ToggleError(f"{TOGGLE.name}={n}, but the stack runs {running} TruthSync instance"
                          f"{'s' if running != 1 else ''}: start it with LAB_TRUTHSYNC_INSTANCES={n} "
                          f"(`sentinel-lab down`, then `LAB_TRUTHSYNC_INSTANCES={n} sentinel-lab up`)")


def instances(names) -> list[str]:
    """The TruthSync instances among service ``names``, in instance order (truthsync-2 before truthsync-10)."""
    return sorted((n for n in names if replica_of(n)), key=lambda n: replica_of(n)[1])


def routed(names, toggle_values: dict[str, str]) -> list[str]:
    """The instances among ``names`` Nginx routes to under ``toggle_values``: the first N, or all for 0."""
    running = instances(names)
    check(toggle_values, len(running))
    n = wanted(toggle_values)
    return running if n == EVERY else running[:n]


def refuse_in_compose(toggle_values: dict[str, str]) -> None:
    """Compose routes to its scaled ``truthsync`` service through Docker's DNS round robin, which cannot
    pick "the first N" replicas: any value but every instance is refused there, saying what to do."""
    n = wanted(toggle_values)
    if n != EVERY:
        raise ToggleError(f"{TOGGLE.name}={n} is a local-stack toggle: compose's Nginx reaches the TruthSync "
                          "replicas by DNS round robin and cannot route to the first N; sweep it on the local "
                          f"stack (--stack local), or run compose with LAB_TRUTHSYNC_INSTANCES={n}")


def check_settings(toggle_values: dict[str, str], settings) -> None:
    """Refuse ``toggle_values`` a stack of ``settings`` could not apply (checked before it starts)."""
    if settings.stack == "compose":
        refuse_in_compose(toggle_values)
    else:
        check(toggle_values, settings.truthsync_instances)
