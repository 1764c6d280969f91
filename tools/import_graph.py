"""The module import graph of the hwprune package, its cycles and its layer violations.

Why: the pipeline's stages must depend on each other one way only (docs/architecture.md, "Imports
flow one way"). This script reads every module with ``ast`` (no import side effects), records each
``import``/``from … import`` anywhere in a module (function-level imports count too), and reports

* every import cycle between modules (strongly connected components of more than one module), and
* every import of a later stage by an earlier one, per the stage order in ``STAGE_ORDER``, and
* every import of a vertical feature's module (``FEATURES``) from outside the feature.

A module importing its own package (``hwprune.ir.graph`` -> ``hwprune.ir``) is not an edge: the
package ``__init__`` is a re-export surface, not a dependency. ``python tools/import_graph.py`` prints
the findings and exits 1 when there are any; ``tests/unit/test_import_graph.py`` runs the same check.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT_PACKAGE = "hwprune"

# The stage of each top-level sub-package or module, in pipeline order: a module may import its own
# stage and earlier ones, never a later one. Features that span stages (``tokens``) keep one module
# per stage they plug into; each of those modules is ranked by the stage it registers into (below).
STAGE_ORDER: tuple[tuple[str, ...], ...] = (
    ("errors", "resources", "datasets", "plugins", "subprocesses", "progress"),
    ("ir", "config", "boards", "cache"),
    ("frontend",),
    ("quant", "prune", "tokens"),
    ("lower",),
    ("backends",),
    ("sim", "estimate", "report", "bringup", "evaluate"),
    ("explore", "flow"),
    ("__main__", "cli", "cli_explore", "cli_prune", "cli_report", "cli_sim", "demo"),
)

# Modules of a vertical feature that build on a later stage than the feature's own: the module's rank
# is that stage. The stages reach them only through their plug-in tables (``hwprune.plugins``, entry
# points in pyproject.toml), never by import.
FEATURE_STAGE: dict[str, str] = {
    "hwprune.tokens.hardware": "lower",
    "hwprune.tokens.cycles": "lower",
    "hwprune.tokens.rtl_parts": "backends",
    "hwprune.tokens.rtl_nonlinear": "backends",
    "hwprune.tokens.rtl_score": "backends",
    "hwprune.tokens.rtl_package": "backends",
    "hwprune.tokens.rtl_selector": "backends",
    "hwprune.tokens.hls_writer": "backends",
    "hwprune.tokens.vectors": "sim",
    "hwprune.tokens.rtl_sim": "sim",
    "hwprune.tokens.csim": "sim",
    "hwprune.tokens.emit": "sim",
    "hwprune.tokens.summary": "report",
}


def module_name(path: Path, package_dir: Path) -> str:
    """``hwprune/ir/graph.py`` -> ``hwprune.ir.graph``; ``hwprune/ir/__init__.py`` -> ``hwprune.ir``."""
    parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def discover(package_dir: Path) -> dict[str, Path]:
    """Every module of the package by dotted name."""
    return {module_name(p, package_dir): p for p in sorted(package_dir.rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest known module that ``name`` is or lies inside (``a.b.C`` -> ``a.b``)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``module`` imports anywhere in its body."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # ``from pkg import sub`` imports the submodule ``pkg.sub`` when there is one.
            targets = [f"{prefix}.{alias.name}" for alias in node.names] or [prefix]
            targets.append(prefix)
        for target in targets:
            resolved = _resolve(target, modules)
            if resolved is None or resolved == module:
                continue
            if module.startswith(resolved + "."):
                continue  # a module importing its own package (or an ancestor package)
            found.add(resolved)
    # ``from pkg import sub`` adds both pkg.sub and pkg; keep pkg only when nothing inside was meant.
    return found


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """Module -> the modules it imports (inside the package only)."""
    modules = discover(package_dir)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of more than one module, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                child = pending.pop(0)
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, sorted(graph.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


def stage_rank(module: str) -> int | None:
    """The position of ``module``'s stage in ``STAGE_ORDER`` (None: the root package itself)."""
    if module in FEATURE_STAGE:
        module = f"{ROOT_PACKAGE}.{FEATURE_STAGE[module]}"
    parts = module.split(".")
    if len(parts) < 2:
        return None
    for rank, stages in enumerate(STAGE_ORDER):
        if parts[1] in stages:
            return rank
    raise ValueError(f"{module}: its top-level part {parts[1]!r} has no stage in tools/import_graph.py")


FEATURES = ("tokens",)
"""Vertical features: no module outside a feature imports it (the stages reach it through their tables)."""


def feature_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, feature module) pairs where a module outside a feature imports it."""
    def feature_of(module: str) -> str | None:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 and parts[1] in FEATURES else None

    return [(module, target) for module, targets in sorted(graph.items()) for target in sorted(targets)
            if feature_of(target) is not None and feature_of(module) != feature_of(target)]


def layer_violations(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) pairs where an earlier stage imports a later one."""
    bad = []
    for module, targets in sorted(graph.items()):
        rank = stage_rank(module)
        for target in sorted(targets):
            target_rank = stage_rank(target)
            if rank is not None and target_rank is not None and target_rank > rank:
                bad.append((module, target))
    return bad


def main(argv: list[str]) -> int:
    package_dir = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / ROOT_PACKAGE
    graph = import_graph(package_dir)
    cycles = strongly_connected(graph)
    violations = layer_violations(graph)
    reaching = feature_imports(graph)
    for component in cycles:
        print(f"import cycle of {len(component)} modules: {', '.join(component)}")
    for importer, imported in violations:
        print(f"layer violation: {importer} imports the later stage {imported}")
    for importer, imported in reaching:
        print(f"feature import: {importer} imports the feature module {imported} (register through a table)")
    edges = sum(len(t) for t in graph.values())
    print(f"{len(graph)} modules, {edges} imports, {len(cycles)} cycles, {len(violations)} layer violations, "
          f"{len(reaching)} feature imports")
    return 1 if cycles or violations or reaching else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
