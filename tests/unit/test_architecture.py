"""The package's structure (docs/architecture.md): imports flow one way, features plug in through tables,
modules stay small, and the documentation points only inside the repository."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import import_graph  # noqa: E402

MAX_MODULE_LINES = 400


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph.import_graph(ROOT / "hwprune")


def test_there_is_no_import_cycle(graph: dict[str, set[str]]) -> None:
    cycles = import_graph.strongly_connected(graph)
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_stage_imports_a_later_one(graph: dict[str, set[str]]) -> None:
    assert import_graph.layer_violations(graph) == []


def test_no_module_outside_a_feature_imports_it(graph: dict[str, set[str]]) -> None:
    assert import_graph.feature_imports(graph) == []


def test_every_module_has_a_stage(graph: dict[str, set[str]]) -> None:
    for module in graph:
        import_graph.stage_rank(module)  # raises for a top-level module the stage order does not know


def test_the_checker_finds_a_cycle_and_a_reversed_import(tmp_path: Path) -> None:
    """The check can fail: a copy of the package where the IR imports the flow is caught twice."""
    copy = tmp_path / "hwprune"
    shutil.copytree(ROOT / "hwprune", copy, ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / "ir" / "types.py", "a", encoding="utf-8") as f:
        f.write("\n\ndef _late() -> None:\n    from hwprune.flow import STEPS  # noqa: F401\n")
    with open(copy / "quant" / "ptq.py", "a", encoding="utf-8") as f:
        f.write("\nfrom hwprune.tokens import ir_node  # noqa: E402,F401\n")
    broken = import_graph.import_graph(copy)
    cycles = import_graph.strongly_connected(broken)
    assert any("hwprune.ir.types" in c and "hwprune.flow" in c for c in cycles)
    assert ("hwprune.ir.types", "hwprune.flow") in import_graph.layer_violations(broken)
    assert ("hwprune.quant.ptq", "hwprune.tokens.ir_node") in import_graph.feature_imports(broken)
    assert import_graph.main(["import_graph", str(copy)]) == 1


def test_relative_and_package_imports_are_resolved(tmp_path: Path) -> None:
    package = tmp_path / "hwprune"
    (package / "a").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a" / "__init__.py").write_text("from .b import x\n")
    (package / "a" / "b.py").write_text("from hwprune.a import c\nx = 1\n")
    (package / "a" / "c.py").write_text("def f():\n    from .. import errors\n")
    (package / "errors.py").write_text("")
    edges = import_graph.import_graph(package)
    assert edges["hwprune.a"] == {"hwprune.a.b"}
    assert edges["hwprune.a.b"] == {"hwprune.a.c"}  # its own package is not an edge
    assert edges["hwprune.a.c"] == {"hwprune.errors"}


def test_no_module_is_over_the_size_limit() -> None:
    long = {str(p.relative_to(ROOT)): n for p in sorted((ROOT / "hwprune").rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}, f"split these by responsibility: {long}"


_OUTSIDE = re.compile(r"\.\./shared|DESIGN\.md|METHODS\.md|TOOLCHAIN\.md")


def test_readme_docs_and_code_point_only_inside_the_repository() -> None:
    """Users get the repository (or the wheel), nothing beside it. The shipped HLS headers are left as
    they are: they are copied into every build, whose bytes a refactor must not change."""
    texts = [ROOT / "README.md", ROOT / "pyproject.toml", *sorted((ROOT / "docs").glob("*.md")),
             *sorted((ROOT / "hwprune").rglob("*.py")), *sorted((ROOT / "tests").rglob("*.py")),
             *sorted((ROOT / "bench").rglob("*.py")), *sorted((ROOT / "examples").glob("*.py"))]
    found = [f"{p.relative_to(ROOT)}:{i}" for p in texts if p != Path(__file__)
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if _OUTSIDE.search(line)]
    assert found == []


def test_the_plugin_tables_hold_the_token_feature() -> None:
    """The token selector reaches every stage through its plug-ins (entry points), not by import."""
    from hwprune import plugins
    from hwprune.backends.emitters import NODE_EMITTERS
    from hwprune.frontend.onnx import supported_ops
    from hwprune.ir.dynamic import DYNAMIC_ROWS
    from hwprune.ir.execute import FLOAT_KERNELS
    from hwprune.ir.ops import op_spec
    from hwprune.quant.ptq import NODE_QUANTIZERS
    from hwprune.quant.reference import INT_KERNELS
    from hwprune.report.summary import NODE_SUMMARIES
    from hwprune.sim.bundle import BUILD_CHECKS

    for stage in plugins.STAGES:
        plugins.load(stage)
    assert op_spec("TokenSelector") is not None and "TokenSelector" in supported_ops()
    for table in (FLOAT_KERNELS, DYNAMIC_ROWS, INT_KERNELS, NODE_QUANTIZERS, NODE_EMITTERS, NODE_SUMMARIES):
        assert "TokenSelector" in table
    assert "token_selectors.json" in BUILD_CHECKS
    assert plugins.loaded() == frozenset(plugins.STAGES)
    with pytest.raises(ValueError, match="unknown plug-in stage"):
        plugins.load("nonsense")
