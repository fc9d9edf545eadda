"""Where a stack's logs are read from: Loki in compose, the services' JSON-lines files locally."""
from __future__ import annotations

from analysis.collect.logs import LogFiles, LogSource
from analysis.collect.loki import Loki
from analysis.settings import Settings
from analysis.stack.compose import published_url


def log_source(settings: Settings) -> LogSource:
    """Loki at the port compose publishes it on (``LAB_PORT_BASE`` + its offset) on the compose stack,
    the JSON-lines files in ``settings.log_dir`` on the local one."""
    if settings.stack == "compose":
        return Loki(published_url(settings, "loki"))
    return LogFiles(settings.log_dir)
