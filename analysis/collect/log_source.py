"""Where a stack's logs are read from: Loki in compose, the services' JSON-lines files locally."""
from __future__ import annotations

from analysis.collect.logs import LogFiles, LogSource
from analysis.collect.loki import Loki
from analysis.settings import Settings


def log_source(settings: Settings) -> LogSource:
    """Loki at the port compose publishes it on (``settings.url("loki")``) on the compose stack,
    the JSON-lines files in ``settings.log_dir`` on the local one."""
    if settings.stack == "compose":
        return Loki(settings.url("loki"))
    return LogFiles(settings.log_dir)
