"""Read Grafana Alloy's configuration syntax into blocks, and name the metrics it exports.

No Alloy binary runs on the lab's machines, so the compose stack's ``config.alloy`` is checked by
parsing it: every block and attribute against the option names of the pinned Alloy version, and
each ``stage.metrics`` metric under the name Prometheus will really see (Alloy treats an empty
``prefix`` as unset and prepends ``loki_process_custom_``). The grammar covered is what a
collector config uses: blocks with an optional label, attributes, strings, numbers, booleans,
``null``, lists, objects and dotted references.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

#: what Alloy prepends to a ``stage.metrics`` metric whose ``prefix`` is unset or empty
DEFAULT_METRICS_PREFIX = "loki_process_custom_"

_TOKEN = re.compile(r"""
    (?P<space>\s+|//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<punct>[{}\[\]=,:])
""", re.S | re.X)


class AlloySyntaxError(ValueError):
    """The text is not Alloy syntax (or uses a construct this reader does not cover)."""


@dataclass
class Block:
    """``name "label" { ... }``: its attributes and its nested blocks, in order."""

    name: str
    label: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    blocks: list["Block"] = field(default_factory=list)
    line: int = 0

    def walk(self, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], "Block"]]:
        """Every nested block with the names of the blocks around it (``("loki.process", "stage.metrics")``)."""
        here = (*path, self.name)
        yield here, self
        for child in self.blocks:
            yield from child.walk(here)


@dataclass(frozen=True)
class Ref:
    """A reference to another component's export, e.g. ``local.file_match.services.targets``."""

    path: str


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, pos, line = [], 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise AlloySyntaxError(f"line {line}: unexpected {text[pos:pos + 20]!r}")
        kind = m.lastgroup
        if kind != "space":
            out.append((kind, m.group(), line))
        line += m.group().count("\n")
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, ahead: int = 0) -> tuple[str, str, int]:
        j = self.i + ahead
        return self.toks[j] if j < len(self.toks) else ("eof", "", self.toks[-1][2] if self.toks else 0)

    def take(self, value: str | None = None, kind: str | None = None) -> tuple[str, str, int]:
        tok = self.peek()
        if (value is not None and tok[1] != value) or (kind is not None and tok[0] != kind):
            want = value or kind
            raise AlloySyntaxError(f"line {tok[2]}: expected {want!r}, found {tok[1] or 'end of file'!r}")
        self.i += 1
        return tok

    def body(self, closing: str | None) -> Block:
        block = Block("")
        while self.peek()[0] != "eof" and self.peek()[1] != closing:
            kind, name, line = self.take(kind="ident")
            if self.peek()[1] == "=":
                self.take("=")
                if name in block.attrs:
                    raise AlloySyntaxError(f"line {line}: attribute {name} set twice")
                block.attrs[name] = self.value()
                continue
            label = json.loads(self.take(kind="string")[1]) if self.peek()[0] == "string" else None
            self.take("{")
            child = self.body("}")
            self.take("}")
            child.name, child.label, child.line = name, label, line
            block.blocks.append(child)
        return block

    def value(self) -> Any:
        kind, text, line = self.peek()
        if kind == "string":
            self.i += 1
            return json.loads(text)
        if kind == "raw":
            self.i += 1
            return text[1:-1]
        if kind == "number":
            self.i += 1
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "ident":
            self.i += 1
            return {"true": True, "false": False, "null": None}.get(text, Ref(text))
        if text == "[":
            self.take("[")
            items = []
            while self.peek()[1] != "]":
                items.append(self.value())
                if self.peek()[1] != "]":
                    self.take(",")
            self.take("]")
            return items
        if text == "{":
            self.take("{")
            obj = {}
            while self.peek()[1] != "}":
                k_kind, key, _ = self.take()
                if k_kind not in ("ident", "string"):
                    raise AlloySyntaxError(f"line {line}: object key expected, found {key!r}")
                self.take("=")
                obj[json.loads(key) if k_kind == "string" else key] = self.value()
                if self.peek()[1] != "}":
                    self.take(",")
            self.take("}")
            return obj
        raise AlloySyntaxError(f"line {line}: a value expected, found {text or 'end of file'!r}")


def parse(text: str) -> list[Block]:
    """The top-level blocks of an Alloy configuration."""
    parser = _Parser(text)
    root = parser.body(None)
    if root.attrs:
        raise AlloySyntaxError(f"attributes outside any block: {', '.join(root.attrs)}")
    return root.blocks


def exported_metrics(blocks: list[Block]) -> dict[str, str]:
    """{metric name as Prometheus sees it: type} for every ``stage.metrics`` metric, prefix rule applied."""
    out: dict[str, str] = {}
    for top in blocks:
        for path, block in top.walk():
            if len(path) >= 2 and path[-2] == "stage.metrics" and block.name.startswith("metric."):
                prefix = block.attrs.get("prefix") or DEFAULT_METRICS_PREFIX
                out[prefix + block.attrs["name"]] = block.name.removeprefix("metric.")
    return out
