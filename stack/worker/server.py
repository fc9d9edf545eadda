"""GET /health and GET /metrics for the worker, served from a thread of the Celery parent process."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from celery import signals
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

_ready = threading.Event()


@signals.worker_ready.connect
def _up(**_):
    _ready.set()


@signals.worker_shutting_down.connect
def _down(**_):
    _ready.clear()


def serve(host: str, port: int, registry: CollectorRegistry = REGISTRY) -> ThreadingHTTPServer:
    """Start answering in a daemon thread; /health is 503 until the worker has consumed its queues."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/health":
                ok = _ready.is_set()
                self._send(200 if ok else 503, b'{"status":"ok"}' if ok else b'{"status":"starting"}',
                           "application/json")
            elif self.path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            else:
                self._send(404, b'{"detail":"not found: try /health or /metrics"}', "application/json")

        def _send(self, status: int, body: bytes, content_type: str):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # scrapes every few seconds would drown the worker's own log
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="worker-http", daemon=True).start()
    return server
