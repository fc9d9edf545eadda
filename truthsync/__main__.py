"""``python -m truthsync``: serve one instance with uvicorn (uvloop, httptools) on HOST:PORT."""
import sys

from stack.serve import serve
from truthsync.app import create_app
from truthsync.config import Config

if __name__ == "__main__":
    sys.exit(serve("truthsync", Config.from_env, create_app))
