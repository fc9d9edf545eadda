"""``python -m stack.api``: serve the API with uvicorn on HOST:PORT (settings from the environment)."""
from __future__ import annotations

import sys

import uvicorn

from stack import jsonlog
from stack.api.app import create_app
from stack.api.config import ApiConfig, ConfigError


def main() -> int:
    try:
        config = ApiConfig.from_env()
    except ConfigError as exc:
        print(f"sentinel api: {exc}", file=sys.stderr)
        return 2
    jsonlog.configure(config.log_file, config.service_name)
    uvicorn.run(create_app(config), host=config.host, port=config.port, loop="uvloop", http="httptools",
                access_log=False, log_config=None, server_header=False, timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
