"""Standing the stack up: one interface (``base.Stack``: up, status, apply, down), several kinds."""
from __future__ import annotations

from analysis.settings import Settings
from analysis.stack.base import Stack
from analysis.stack.compose import ComposeStack
from analysis.stack.local import LocalStack

#: stack kinds by name (``LAB_STACK``)
KINDS: dict[str, type] = {"local": LocalStack, "compose": ComposeStack}


def open_stack(settings: Settings | None = None, **kwargs) -> Stack:
    """The stack controller for ``settings.stack`` (``local`` or ``compose``)."""
    settings = settings or Settings.from_env()
    if settings.stack not in KINDS:
        raise ValueError(f"unknown stack kind {settings.stack!r}; choose one of {', '.join(sorted(KINDS))}")
    return KINDS[settings.stack](settings, **kwargs)
