"""Render the stack's config tree: ``*.j2`` files are Jinja2 templates, the rest are copied.

Both stack kinds render the same sources in ``stack/config/`` with their own
context (loopback ports locally, service names in compose), so a scrape job or
an Nginx route is written once.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import jinja2

CONFIG_SRC = Path(__file__).resolve().parents[2] / "stack" / "config"


def render_configs(src: Path, dst: Path, context: dict, only: set[str] | None = None) -> dict[str, str]:
    """Render ``src`` into ``dst``; returns {relative path: sha256} of what was written.

    ``only`` limits rendering to these top-level folders (e.g. {"nginx"}).
    """
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(src)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)
    digests: dict[str, str] = {}
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        rel = path.relative_to(src)
        if only is not None and rel.parts[0] not in only:
            continue
        if path.suffix == ".j2":
            text = env.get_template(rel.as_posix()).render(**context).encode()
            rel = rel.with_suffix("")
        else:
            text = path.read_bytes()
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        if not out.exists() or out.read_bytes() != text:
            out.write_bytes(text)
        digests[rel.as_posix()] = hashlib.sha256(text).hexdigest()
    return digests


def digest_of(digests: dict[str, str], folder: str, ignore_reloadable: bool = False) -> str:
    """One fingerprint for everything rendered under ``folder`` (a service's config); with
    ``ignore_reloadable``, files named ``*.reload.*`` (re-read on SIGHUP) are left out."""
    h = hashlib.sha256()
    for rel in sorted(k for k in digests if k.split("/", 1)[0] == folder
                      and not (ignore_reloadable and ".reload." in k.rsplit("/", 1)[-1])):
        h.update(f"{rel}={digests[rel]}".encode())
    return h.hexdigest()
