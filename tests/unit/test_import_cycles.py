"""No import cycle among the project's modules, and no import hidden inside a function to dodge one.

The graph is read with ``ast`` from the sources (nothing is imported): an edge for every ``import`` or
``from … import`` of a project module, wherever it stands in the file, so a cycle hidden by an import
inside a function counts too."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("analysis", "stack", "truthsync", "loadtests")
#: the lab, where an import inside a function has no reason to be (the services import in order on purpose:
#: stack/worker/__main__.py sets PROMETHEUS_MULTIPROC_DIR before prometheus_client is first imported)
NO_HIDDEN_IMPORTS = ("analysis",)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module ``name`` is, or is in (``analysis.stack.toggles.TOGGLES`` → ``analysis.stack.toggles``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    out = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for name in names:
            target = _resolve(name, modules)
            if target and target != module and not module.startswith(target + "."):
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(m, p, modules) for m, p in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_detector_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_the_projects_modules():
    found = cycles(graph())
    assert not found, "import cycles (break each by moving what both need into a module of its own): " + "; ".join(
        " ↔ ".join(c) for c in found)


def test_no_project_import_inside_a_function_of_the_lab():
    modules, hidden = _modules(), []
    for module, path in modules.items():
        if not module.startswith(NO_HIDDEN_IMPORTS):
            continue
        for fn in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                    targets = {_resolve(n, modules) for n in names} - {None}
                    if targets:
                        hidden.append(f"{path.relative_to(REPO)}:{node.lineno} {', '.join(sorted(targets))}")
    assert not hidden, "imports inside functions (move them to the top): " + "; ".join(hidden)
