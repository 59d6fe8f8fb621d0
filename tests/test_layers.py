"""The package's shape: no import from a higher layer, no import cycle, no module past ~500 lines.

Read from the source with ``ast`` (nothing is imported), so a lazy import
inside a function counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "omniflow"

# Lower numbers are lower layers; a package may import only from lower layers
# (and from itself). Data flows upward: YAML -> language -> planning -> run -> report.
LAYERS = {
    "errors": 0,
    "core": 1,
    "config": 1,
    "store": 2,
    "media": 3,  # local media on PyAV; also the one byte sniffer
    "language": 4,
    "emulator": 4,  # renders with media/
    "planning": 5,
    "backends": 5,  # the in-process emulator is one of its transports
    "remote": 6,
    "run": 7,
    "report": 8,
    "export": 8,
    "review": 9,
    "mcp": 10,  # calls the same library functions the CLI calls, never the CLI
    "cli": 11,
    "__main__": 12,
    "omniflow": 12,  # the facade, omniflow/__init__.py
}

# The one sanctioned call upward: Pipeline.plan()/.run() are sugar for the facade.
ALLOWED_UP = {("omniflow.language.model", "omniflow")}

MAX_LINES = 520


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _layer(module: str) -> str:
    parts = module.split(".")
    return "omniflow" if len(parts) == 1 else parts[1]


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "omniflow":
                found.update(f"omniflow.{a.name}" for a in node.names)
            elif node.module.startswith("omniflow."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name == "omniflow" or a.name.startswith("omniflow."))
    return found


def test_every_package_has_a_layer():
    missing = sorted({_layer(m) for m in _modules()} - set(LAYERS))
    assert not missing, f"give these packages a layer in LAYERS: {missing}"


def test_no_import_from_a_higher_layer():
    wrong = []
    for module, path in _modules().items():
        here = _layer(module)
        for target in _imports(path, top_level_only=False):
            there = _layer(target)
            if there == here or (module, target) in ALLOWED_UP:
                continue
            if LAYERS.get(there, 99) >= LAYERS[here]:
                wrong.append(f"{module} imports {target} ({here} is layer {LAYERS[here]}, {there} is {LAYERS.get(there)})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle_between_modules():
    modules = _modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for module, path in modules.items():
        for target in _imports(path, top_level_only=True):
            # `from omniflow.x import y` may name a submodule y or a name in x
            node = target if target in modules else target.rpartition(".")[0]
            if node in modules and node != module:
                graph.add_edge(module, node)
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c + [c[0]]) for c in cycles)


def test_no_module_past_the_size_limit():
    big = [f"{m}: {n} lines" for m, p in _modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert not big, "split these modules: " + ", ".join(big)


def test_internals_lists_every_module():
    text = (PACKAGE.parent / "docs" / "internals.md").read_text(encoding="utf-8")
    missing = [p.relative_to(PACKAGE.parent).as_posix() for p in sorted(PACKAGE.rglob("*.py"))
               if f"`{p.relative_to(PACKAGE.parent).as_posix()}`" not in text]
    assert not missing, "docs/internals.md does not list: " + ", ".join(missing)


def test_every_package_ships_in_the_wheel():
    import tomllib

    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(PACKAGE.parent).parts) for p in PACKAGE.rglob("__init__.py")}
    assert not on_disk - listed, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(on_disk - listed)}"
