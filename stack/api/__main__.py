"""``python -m stack.api``: serve the API with uvicorn on HOST:PORT (settings from the environment)."""
import sys

from stack.api.app import create_app
from stack.api.config import ApiConfig
from stack.serve import serve

if __name__ == "__main__":
    sys.exit(serve("sentinel api", ApiConfig.from_env, create_app))
