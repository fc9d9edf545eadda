"""``python -m stack.remediator``: serve on HOST:PORT with JSON-lines logs to LOG_FILE."""
import os

import uvicorn

from stack import jsonlog
from stack.remediator.app import create_app

jsonlog.configure(os.environ.get("LOG_FILE"), os.environ.get("SERVICE_NAME", "remediator"))
uvicorn.run(create_app(), host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8820")),
            log_config=None, access_log=False)
