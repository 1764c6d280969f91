"""The bad-input corpus (``tests/corpus``): every file fails with one clear line and touches nothing.

Each model goes through the real CLI in a subprocess whose TMPDIR, HOME and working directory lie in a
private temporary root; the whole root is listed before and after, so a file written anywhere but the
requested output directory (which must not appear either) fails the test. Board files go through
the board parser, config files through ``--config``, bad sparsities through ``hwprune prune``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hwprune.boards import _parse as parse_board
from hwprune.errors import BoardError, GraphError, HwpruneError
from hwprune.frontend import import_onnx_model, limits
from hwprune.frontend.onnx_loader import load_onnx_bytes

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"


def _load_make_corpus():
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules.setdefault("make_corpus", module)
    spec.loader.exec_module(module)
    return module


mc = _load_make_corpus()


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` → its bytes (``None`` for directories)."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def _sandbox(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A private root with in/, out/, tmp/ and home/, and an environment that points TMPDIR/HOME into it."""
    root = tmp_path / "root"
    for sub in ("in", "out", "tmp", "home"):
        (root / sub).mkdir(parents=True)
    env = dict(os.environ, TMPDIR=str(root / "tmp"), HOME=str(root / "home"), PYTHONDONTWRITEBYTECODE="1")
    return root, env


def _run(args: list[str], root: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hwprune.cli", *args], capture_output=True, text=True, cwd=root,
                          env=env, timeout=300)


def _assert_one_clean_line(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("hwprune: error: "), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def test_corpus_files_are_current():
    """The committed files are exactly what ``make_corpus.py`` writes (rerun it after changing it)."""
    assert mc.stale(CORPUS) == []
    committed = {p.name for p in CORPUS.iterdir() if p.is_file() and p.name != "make_corpus.py"}
    assert committed == set(mc.ALL)


def test_corpus_generation_is_deterministic(tmp_path):
    first = mc.generate(tmp_path / "a")
    second = mc.generate(tmp_path / "b")
    assert first == second


def test_valid_twins_import():
    """The corruptions start from models that import fine, so each failure is the corruption's."""
    for model in (mc.tiny_mlp(), mc.tiny_qonnx(8)):
        raw = model.SerializeToString()
        graph = import_onnx_model(load_onnx_bytes(raw, "twin.onnx"), "twin.onnx")
        assert graph.nodes


@pytest.mark.parametrize("name", sorted(mc.MODELS))
def test_corpus_model_fails_cleanly(name, tmp_path):
    case = mc.MODELS[name]
    root, env = _sandbox(tmp_path)
    model = root / "in" / name
    shutil.copyfile(CORPUS / name, model)
    out = root / "out" / "build"
    before = _tree(root)
    result = _run(["compile", str(model), "-o", str(out)], root, env)
    node = [f"node {case.node!r}"] if case.node is not None else []
    _assert_one_clean_line(result, f"hwprune: error: {model}: ", case.reason, *node)
    assert not out.exists()
    assert _tree(root) == before, "files were written outside the requested output directory"


@pytest.mark.parametrize("name", sorted(mc.MODELS))
def test_corpus_model_in_memory_raises_hwprune_error(name):
    """The same files through the library API: an ``HwpruneError`` whose message starts with the source."""
    raw = (CORPUS / name).read_bytes()
    with pytest.raises(HwpruneError) as info:
        import_onnx_model(load_onnx_bytes(raw, f"mem/{name}"), f"mem/{name}")
    assert info.value.message.startswith(f"mem/{name}: ")
    assert mc.MODELS[name].reason in info.value.message


@pytest.mark.parametrize("name", sorted(mc.BOARDS))
def test_corpus_board_is_refused(name):
    with pytest.raises(BoardError) as info:
        parse_board(CORPUS / name, Path(name).stem)
    message = info.value.message
    assert message.startswith(f"{CORPUS / name}: ") and mc.BOARDS[name].reason in message
    assert "\n" not in message


@pytest.mark.parametrize("name", sorted(mc.CONFIGS))
def test_corpus_config_fails_cleanly(name, tmp_path):
    root, env = _sandbox(tmp_path)
    config = root / "in" / name
    shutil.copyfile(CORPUS / name, config)
    out = root / "out" / "build"
    before = _tree(root)
    result = _run(["compile", str(EXAMPLES / "mlp_digits.onnx"), "--config", str(config), "-o", str(out)], root, env)
    _assert_one_clean_line(result, str(config), mc.CONFIGS[name].reason)
    assert not out.exists()
    assert _tree(root) == before


@pytest.mark.parametrize("sparsity", ["1.0", "-0.1", "nan"])
def test_bad_sparsity_fails_cleanly(sparsity, tmp_path):
    root, env = _sandbox(tmp_path)
    out = root / "out" / "pruned.onnx"
    before = _tree(root)
    result = _run(["prune", str(EXAMPLES / "mlp_digits.onnx"), "-o", str(out), f"--sparsity={sparsity}"], root, env)
    _assert_one_clean_line(result, "sparsity must be a number in [0, 1)")
    assert _tree(root) == before


def test_node_count_limit_is_named(monkeypatch):
    """``MAX_NODES`` is checked before anything else about the graph (import cost grows with it)."""
    from onnx import helper

    monkeypatch.setattr(limits, "MAX_NODES", 5)
    nodes = [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"], name=f"relu{i}") for i in range(6)]
    model = mc._model(nodes, {"t0": [1, 4]}, {"t6": [1, 4]})
    with pytest.raises(GraphError) as info:
        load_onnx_bytes(model.SerializeToString(), "chain.onnx")
    assert info.value.message == ("chain.onnx: the graph has 6 nodes, over the limit "
                                  "hwprune.frontend.limits.MAX_NODES = 5")



def test_failed_compile_leaves_no_parent_directories(tmp_path):
    root, env = _sandbox(tmp_path)
    model = root / "in" / "cycle.onnx"
    shutil.copyfile(CORPUS / "cycle.onnx", model)
    before = _tree(root)
    result = _run(["compile", str(model), "-o", str(root / "out" / "a" / "b" / "build")], root, env)
    assert result.returncode == 2
    assert _tree(root) == before
