"""What every kind of stack offers the lab: the ``Stack`` protocol, a service's status, the error type.

``LocalStack`` (processes under supervisord) and ``ComposeStack`` (Docker Compose) implement it; a study,
the CLI and the notebooks talk to a ``Stack`` and never ask which kind it is, except for what only one
kind can do (fault injection through supervisord)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from analysis.settings import Settings


class StackError(RuntimeError):
    """The stack could not do what was asked; the message says which service and what to do."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # healthy | unhealthy | stopped
    port: int | None
    url: str | None
    pid: int | None = None
    detail: str = ""


@runtime_checkable
class Stack(Protocol):
    kind: str  # "local" | "compose"
    settings: Settings

    def up(self, toggles_: dict[str, str] | None = None) -> list[ServiceStatus]:
        """Stand every service up (idempotent) with these toggles and wait until each is healthy."""

    def status(self) -> list[ServiceStatus]: ...

    def is_up(self) -> bool:
        """Every service of the stack healthy."""

    def apply(self, changes: dict[str, str]) -> list[str]:
        """Set toggles on the running stack, restarting only the services they change; their names."""

    def restart(self, names: list[str]) -> list[str]: ...

    def toggles(self) -> dict[str, str]:
        """The toggles the stack runs with (those set; the rest are their defaults)."""

    def down(self) -> None: ...
