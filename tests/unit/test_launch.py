"""The launch kit: ports below the ephemeral range, a real service started, healthy, stopped; the stack
lifecycle (up if needed, down after only if we started it); SIGTERM as Ctrl-C."""
from __future__ import annotations

import os
import signal
import sys

import httpx
import pytest

from analysis.interrupts import signals_as_interrupt
from analysis.stack.lifecycle import stack_up
from stack.launch import PORT_RANGE, free_port, launched, start, stop, wait_healthy

SERVER = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1"]


def test_free_ports_are_below_the_ephemeral_range_and_free():
    port = free_port()
    assert PORT_RANGE[0] <= port < 32768


def test_a_launched_service_is_healthy_inside_and_gone_after(tmp_path):
    port = free_port()
    with launched("http.server", SERVER + [str(port)], dict(os.environ), port, health="/", cwd=tmp_path) as svc:
        assert httpx.get(svc.url + "/").status_code == 200
    assert svc.process.poll() is not None
    with pytest.raises(httpx.TransportError):
        httpx.get(svc.url + "/", timeout=1)


def test_a_service_that_exits_is_reported_with_its_log(tmp_path):
    log = tmp_path / "out.log"
    svc = start("broken", [sys.executable, "-c", "import sys; print('no config'); sys.exit(3)"], dict(os.environ),
                free_port(), log)
    try:
        with pytest.raises(RuntimeError, match=f"broken exited with 3 before it was healthy; read {log}"):
            wait_healthy(svc, timeout_s=10)
    finally:
        stop(svc.process)
    assert "no config" in log.read_text()


class Stack:
    def __init__(self, up: bool):
        self.up_now, self.calls = up, []

    def is_up(self) -> bool:
        return self.up_now

    def up(self):
        self.calls.append("up")
        self.up_now = True

    def down(self):
        self.calls.append("down")
        self.up_now = False


@pytest.mark.parametrize("was_up, owned, keep_up, calls", [
    (False, False, False, ["up", "down"]),   # we started it: we take it down
    (True, False, False, []),                # someone else's: left running
    (True, True, False, ["down"]),           # a killed earlier run of ours started it
    (False, False, True, ["up"]),            # asked to keep it up
])
def test_the_stack_comes_down_only_if_we_started_it(was_up, owned, keep_up, calls):
    stack = Stack(was_up)
    with pytest.raises(KeyboardInterrupt):
        with stack_up(stack, keep_up=keep_up, owned=owned) as started:
            assert started == (not was_up or owned)
            raise KeyboardInterrupt  # the clean-up runs whatever stops the job
    assert stack.calls == calls


def test_sigterm_is_ctrl_c_inside_and_restored_after():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with signals_as_interrupt(signal.SIGTERM):
            os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == before
