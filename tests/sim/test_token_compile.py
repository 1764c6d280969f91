"""``hwprune compile`` of a model with a token selector (``token_model.py``): the build holds the layers'
RTL/HLS and the selector's RTL, HLS and golden vectors; everything reruns from the build directory
bit-exact (and cycle-exact for the selector's RTL); the integer reference runs the selector as
``IntSelector``; the build's bytes equal the golden digests (recorded under another hash seed).

The model is compiled once per test session (shared by the xdist workers under a lock) and every
file's digest is taken before any test simulates inside the build."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from hwprune.cache import exclusive
from hwprune.ir.execute import run_float
from hwprune.ir.graph import Graph
from hwprune.quant import run_integer
from hwprune.tokens.ir_node import int_selector_of

from token_model import DIM, OUT, SAMPLES, TOKENS, write_token_model

pytestmark = pytest.mark.sim

GOLDEN = 32  # hwprune.flow.GOLDEN_VECTORS: the first calibration samples
SELECTOR = "TokenSelector"  # the identifier of the exported node "/TokenSelector"


@dataclass(frozen=True)
class TokenBuild:
    model: Path
    build: Path
    stdout: str
    digests: dict[str, str]  # relative path → sha256, taken right after compiling

    @property
    def calibration(self) -> np.ndarray:
        return np.load(self.model.parent / "calibration.npz")["tokens"]


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _compile(model: Path, out: Path) -> str:
    """One compile under a fixed hash seed: the golden digests were recorded by ``tools/golden_builds.py``
    in a process of its own (a random seed), so equal digests mean equal bytes across seeds."""
    env = dict(os.environ, PYTHONHASHSEED="4242")
    result = subprocess.run([sys.executable, "-m", "hwprune.cli", "compile", str(model), "--board", "zcu102",
                             "-o", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="session")
def token_build(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> TokenBuild:
    base = tmp_path_factory.getbasetemp()
    root = (base if worker_id == "master" else base.parent) / "token-compile"
    root.mkdir(exist_ok=True)
    with exclusive(root.parent / "token-compile.lock"):
        done = root / "done.json"
        if not done.is_file():
            model = write_token_model(root / "model")
            stdout = _compile(model, root / "a")
            done.write_text(json.dumps({"stdout": stdout, "a": _digests(root / "a")}))
    record = json.loads(done.read_text())
    return TokenBuild(root / "model" / "tokens.onnx", root / "a", record["stdout"], record["a"])


def _selector_node(graph: Graph):  # noqa: ANN202
    (node,) = [n for n in graph.nodes if n.op == "TokenSelector"]
    return node


def test_compile_emits_layers_and_selector(token_build: TokenBuild) -> None:
    files = set(token_build.digests)
    for rel in (f"rtl/{SELECTOR}.v", "rtl/token_selectors.json", f"sim/{SELECTOR}.case.json",
                "sim/token_selectors.json", "hls/token_selectors/tokens.json",
                f"hls/token_selectors/tb/data/{SELECTOR}.in.txt", f"hls/token_selectors/tb/data/{SELECTOR}.out.txt",
                "rtl/embed_MatMul.v", "rtl/head_MatMul.v", "sim/embed_MatMul.case.json", "hls/hls.json",
                "hls/tb/data/embed_MatMul_top.in.txt", "hls/tb/data/head_MatMul_top.in.txt", "estimate.json"):
        assert rel in files, rel
    build = token_build.build
    qgraph = Graph.from_json((build / "ir_quant.json").read_text())
    node = _selector_node(qgraph)
    assert len(node.inputs) == 2 and "int_selector" in node.attrs  # float weights replaced by the integers
    assert not any(name.startswith("selector.") for name in qgraph.tensors)
    x = qgraph.tensor(node.inputs[0])
    assert int_selector_of(node).in_scale == x.scale[0] and str(x.dtype) == "int8"
    assert qgraph.tensor(node.outputs[0]).scale == x.scale
    hls = json.loads((build / "hls" / "hls.json").read_text())
    assert hls["mode"] == "kernels" and [t["name"] for t in hls["tops"]] == ["embed_MatMul_top", "head_MatMul_top"]
    report = json.loads((build / "report.json").read_text())
    row = next(layer for layer in report["layers"] if layer["op"] == "TokenSelector")
    assert row["selector"]["max_tokens"] == TOKENS and row["selector"]["dim"] == DIM
    assert 0 < row["selector"]["cycles_all_kept"] < row["selector"]["cycles_all_fused"]
    manifest = json.loads((build / "sim" / "token_selectors.json").read_text())
    (entry,) = manifest["selectors"]
    assert entry["top"] == SELECTOR and entry["graph_sets"] == GOLDEN and entry["sets"] == GOLDEN + 16 + 32
    assert "1 selectors, 80 golden sets" in report["emitted"]["token_selectors"]


def test_the_build_matches_the_golden_digests(token_build: TokenBuild) -> None:
    """The same bytes as recorded before the last refactor (``tools/golden_builds.py``)."""
    golden = json.loads((Path(__file__).resolve().parent.parent / "golden" / "build_digests.json").read_text())
    a = token_build.digests
    assert a and sorted(p for p in set(a) | set(golden["tokens"]) if a.get(p) != golden["tokens"].get(p)) == []


def test_selector_rtl_from_the_build_is_bit_and_cycle_exact(token_build: TokenBuild) -> None:
    from hwprune.sim.golden import read_case
    from hwprune.tokens.rtl_sim import run_build_selectors

    result = run_build_selectors(token_build.build)[SELECTOR]
    assert result.tests == 2 and result.failures == 0, result.log.read_text()[-3000:]
    case = read_case(token_build.build / "sim" / f"{SELECTOR}.case.json")
    assert result.trace is not None
    beats = json.loads(result.trace.read_text())["beats"]  # the always-ready replay: (cycle, value)
    assert [v for _, v in beats] == case["expected"] and [c for c, _ in beats] == case["expected_cycles"]


def test_hls_csim_from_the_build_is_bit_exact(token_build: TokenBuild) -> None:
    from hwprune.tokens.csim import run_token_csim
    from hwprune.sim.csim import run_csim

    selectors = run_token_csim(token_build.build / "hls" / "token_selectors")
    assert selectors.passed and selectors.tops == {SELECTOR: (GOLDEN + 16 + 32, 0)}, selectors.log[-2000:]
    layers = run_csim(token_build.build / "hls")
    assert layers.passed, layers.summary()
    assert layers.tops["embed_MatMul_top"].vectors == GOLDEN * TOKENS  # every token row of every input
    assert GOLDEN * 2 <= layers.tops["head_MatMul_top"].vectors < GOLDEN * TOKENS  # only the kept rows


def test_integer_reference_runs_the_selector_as_int_selector(token_build: TokenBuild) -> None:
    """run_integer on the compiled graph = IntSelector.select on the selector's integer inputs, padded to
    the IR bound with the count beside it; the build's golden sets are exactly those inputs and outputs."""
    build = token_build.build
    qgraph = Graph.from_json((build / "ir_quant.json").read_text())
    node = _selector_node(qgraph)
    sel = int_selector_of(node)
    x = token_build.calibration[:GOLDEN]
    values = run_integer(qgraph, {"tokens": x}, keep_all=True)
    tokens_in, (tokens_out, flag_out, count_out) = values[node.inputs[0]], (values[n] for n in node.outputs)
    assert tokens_out.shape == (GOLDEN, TOKENS, DIM) and count_out.shape == (GOLDEN,)
    lines_in = (build / "hls/token_selectors/tb/data" / f"{SELECTOR}.in.txt").read_text().splitlines()
    lines_out = (build / "hls/token_selectors/tb/data" / f"{SELECTOR}.out.txt").read_text().splitlines()
    kept_counts = set()
    for i in range(GOLDEN):
        step = sel.select(torch.from_numpy(tokens_in[i]), False)
        rows = step.tokens.shape[0]
        kept_counts.add(rows)
        assert count_out[i] == rows and flag_out[i] == int(step.has_package)
        assert np.array_equal(tokens_out[i, :rows], step.tokens.numpy()) and not tokens_out[i, rows:].any()
        assert lines_in[i].split() == [str(TOKENS), "0", *map(str, tokens_in[i].reshape(-1))]
        out_line = [str(rows), str(int(step.has_package)), *map(str, step.tokens.numpy().reshape(-1))]
        assert lines_out[i].split() == out_line
    assert len(kept_counts) > 1  # the golden inputs keep different numbers of tokens
    outputs = run_integer(qgraph, {"tokens": x})  # the graph output comes with the count of its rows
    assert sorted(outputs) == sorted(["out", node.outputs[2]]) and np.array_equal(outputs["out"], values["out"])
    assert outputs["out"].shape == (GOLDEN, TOKENS, OUT) and np.array_equal(outputs[node.outputs[2]], count_out)
    assert all(not outputs["out"][i, count_out[i]:].any() for i in range(GOLDEN))
    # the float graph is represented the same way: padded to the bound, its own counts beside it
    graph = Graph.from_json((build / "ir.json").read_text())
    floats = run_float(graph, {"tokens": token_build.calibration[:SAMPLES]})
    count_name = _selector_node(graph).outputs[2]
    assert floats["out"].shape == (SAMPLES, TOKENS, OUT) and floats[count_name].shape == (SAMPLES,)
    assert all(not floats["out"][i, int(c):].any() for i, c in enumerate(floats[count_name]))


def test_hwprune_sim_replays_layers_and_selector_from_a_relative_path(token_build: TokenBuild) -> None:
    """``hwprune sim build`` (a relative path, as the README writes it): every layer and the selector."""
    build = token_build.build
    result = subprocess.run([sys.executable, "-m", "hwprune.cli", "sim", build.name, "--no-backpressure"],
                            capture_output=True, text=True, cwd=build.parent, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "token selector" in result.stdout and f"top {SELECTOR}" in result.stdout, result.stdout
    assert "token selector(s): bit-exact and cycle-exact" in result.stdout, result.stdout
    assert "MISMATCH" not in result.stdout and " NO " not in result.stdout, result.stdout
