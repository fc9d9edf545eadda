"""Standing the stack up: one interface (up, status, apply, down), several kinds."""
from __future__ import annotations

from analysis.settings import Settings


def default_registry() -> dict[str, type]:
    """Stack kinds by name. Imported lazily so the compose kind costs nothing locally."""
    from analysis.stack.local import LocalStack

    kinds: dict[str, type] = {"local": LocalStack}
    try:
        from analysis.stack.compose import ComposeStack
    except ImportError:
        pass
    else:
        kinds["compose"] = ComposeStack
    return kinds


def open_stack(settings: Settings | None = None, **kwargs):
    """The stack controller for ``settings.stack`` (``local`` or ``compose``)."""
    settings = settings or Settings.from_env()
    kinds = default_registry()
    if settings.stack not in kinds:
        raise ValueError(f"unknown stack kind {settings.stack!r}; choose one of {', '.join(sorted(kinds))}")
    return kinds[settings.stack](settings, **kwargs)
