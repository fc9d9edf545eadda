"""OllamaDouble: a TEST DOUBLE of Ollama's ``POST /api/generate`` (non-streaming), never Ollama.

It answers each request with the next scripted :class:`Answer` (an adversarial model: injection
attempts, malformed JSON, unlisted actions, huge or slow answers), and records the requests it got.
Nothing it serves is a measurement of Ollama or of any model; reports never cite it as one.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


@dataclass(frozen=True)
class Answer:
    """One scripted reply. ``text`` is the model's ``response`` field; ``raw`` sends ``text`` as the whole
    HTTP body instead of Ollama's JSON envelope; ``delay_s`` holds the reply back; ``status`` is the HTTP code."""

    text: str
    delay_s: float = 0.0
    raw: bool = False
    status: int = 200
    label: str = ""


class OllamaDouble:
    """A threaded loopback server on ``port``. ``answers``: a list served in turn (the last one repeats), or
    a function of the request's JSON (to answer concurrent requests by what they ask)."""

    def __init__(self, port: int, answers: list[Answer] | Callable[[dict], Answer], host: str = "127.0.0.1"):
        self.answers = answers if callable(answers) else list(answers)
        self.requests: list[dict] = []
        self._served = 0
        self._lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet: the tests read ``requests``
                pass

            def do_GET(self) -> None:
                body = b'{"version": "0.0.0-test-double"}' if self.path == "/api/version" else b"{}"
                self._send(200, body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path != "/api/generate":
                    self._send(404, b'{"error": "the test double speaks /api/generate only"}')
                    return
                answer = double._next(raw)
                if answer.delay_s:
                    time.sleep(answer.delay_s)
                body = answer.text.encode() if answer.raw else json.dumps(
                    {"model": "test-double", "created_at": "1970-01-01T00:00:00Z", "response": answer.text,
                     "done": True}).encode()
                try:
                    self._send(answer.status, body)
                except (BrokenPipeError, ConnectionResetError):  # the caller gave up on a slow answer
                    pass

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _next(self, raw: bytes) -> Answer:
        with self._lock:
            try:
                request = json.loads(raw or b"{}")
            except ValueError:
                request = {"unparsable": raw[:200].decode(errors="replace")}
            self.requests.append(request)
            if callable(self.answers):
                return self.answers(request)
            answer = self.answers[min(self._served, len(self.answers) - 1)]
            self._served += 1
            return answer

    def __enter__(self) -> "OllamaDouble":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
