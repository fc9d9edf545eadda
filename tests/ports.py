"""Loopback ports for test servers (importable from any test: tests/ is on sys.path via its conftest):
the launch kit's, so tests and benchmarks pick ports the same way (below the ephemeral range)."""
from __future__ import annotations

from stack.launch import free_port, wait_port

__all__ = ["free_port", "wait_port"]
