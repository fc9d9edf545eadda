"""Start a service the same way everywhere: settings from the environment, JSON-lines logs, uvicorn."""
from __future__ import annotations

import sys
from typing import Any, Callable

import uvicorn

from stack import jsonlog
from stack.envconfig import ConfigError


def serve(prog: str, load_config: Callable[[], Any], create_app: Callable[[Any], Any]) -> int:
    """Serve ``create_app(load_config())`` on its HOST:PORT; a bad setting exits 2 with the message."""
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    jsonlog.configure(config.log_file, config.service_name)
    uvicorn.run(create_app(config), host=config.host, port=config.port, loop="uvloop", http="httptools",
                access_log=False, log_config=None, server_header=False, timeout_graceful_shutdown=5)
    return 0
