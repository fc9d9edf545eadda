"""``python -m truthsync``: serve one instance with uvicorn (uvloop, httptools) on HOST:PORT."""
from __future__ import annotations

import sys

import uvicorn

from stack import jsonlog
from truthsync.app import create_app
from truthsync.config import Config, ConfigError


def main() -> int:
    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"truthsync: {exc}", file=sys.stderr)
        return 2
    jsonlog.configure(config.log_file, config.service_name)
    uvicorn.run(create_app(config), host=config.host, port=config.port, loop="uvloop", http="httptools",
                access_log=False, log_config=None, server_header=False, timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
