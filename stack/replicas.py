"""Replicated services: ``truthsync-1`` … ``truthsync-N`` are instances of ``truthsync``. The naming rule,
once, for the lab (ports, supervisord programs, compose replicas) and the benchmarks."""
from __future__ import annotations

#: services the stack runs as several numbered instances
REPLICATED = ("truthsync",)


def replica_name(service: str, i: int) -> str:
    """The ``i``-th instance of ``service`` (from 1): ``replica_name("truthsync", 2)`` → ``truthsync-2``."""
    return f"{service}-{i}"


def replica_of(name: str) -> tuple[str, int] | None:
    """``truthsync-2`` → ``("truthsync", 2)``; None for a name that is no instance of a replicated service."""
    service, sep, number = name.rpartition("-")
    if sep and service in REPLICATED and number.isdigit():
        return service, int(number)
    return None


def group_of(name: str) -> str:
    """The service an instance belongs to (``truthsync-2`` → ``truthsync``); other names unchanged."""
    replica = replica_of(name)
    return replica[0] if replica else name
