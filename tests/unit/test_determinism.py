"""Every generated file is byte-identical across runs with different ``PYTHONHASHSEED`` values.

Set iteration order follows string hashing, which ``PYTHONHASHSEED`` randomises per process: a
generator that walks a set (names, tensors, ops) without sorting gives different bytes on another run
or machine. Each bundled example is compiled in a fresh subprocess under its own seed and every file of
the build (JSON checkpoints, report, RTL, HLS, golden vectors, whatever is there) compared with the
digests in ``tests/golden/build_digests.json``; the hostile-names model is compiled twice, with seeds
0 and 12345, and the two build directories compared.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES = ROOT / "examples"
HASH_SEEDS = ("0", "12345")
GOLDEN = ROOT / "tests" / "golden" / "build_digests.json"
"""sha256 of every file of each bundled example's default build (``tools/golden_builds.py --write``)."""


def _hostile(directory: Path) -> Path:
    """The names test's model (every name hostile), with calibration data beside it."""
    from test_names import hostile_model

    path = directory / "hostile.onnx"
    onnx.save(hostile_model(), path)
    np.savez(directory / "calibration.npz", x=np.random.default_rng(2).standard_normal((32, 8)).astype(np.float32))
    return path


MODELS = {
    "mlp": lambda d: EXAMPLES / "mlp_digits.onnx",
    "cnn": lambda d: EXAMPLES / "cnn_digits.onnx",
    "qonnx": lambda d: EXAMPLES / "mlp_digits_qonnx.onnx",
    "hostile-names": _hostile,
}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _compile(model: Path, out: Path, hash_seed: str) -> dict[str, bytes]:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    # without Yosys estimates, as the golden digests were recorded (tools/golden_builds.py): what may
    # depend on the hash seed is hwprune's own generators
    result = subprocess.run([sys.executable, "-m", "hwprune.cli", "compile", str(model), "--board", "zcu102",
                             "-o", str(out), "--no-estimate"],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    return _files(out)


SEED_OF = {"mlp": "0", "cnn": "12345", "qonnx": "777"}
"""A bundled example is compiled once, each under another seed, and compared with its golden digests:
those were recorded by ``tools/golden_builds.py`` in a process of its own (a random seed), so equal
digests mean equal bytes across seeds, at half the compiles of building twice. A model without
digests (the hostile names) is built twice, with seeds 0 and 12345."""


@pytest.mark.parametrize("name", sorted(MODELS))
def test_build_is_identical_across_hash_seeds(name, tmp_path):
    model = MODELS[name](tmp_path)
    if name in SEED_OF:
        first = _compile(model, tmp_path / "build", SEED_OF[name])
        assert {"ir.json", "ir_quant.json", "report.json"} <= set(first)
        for path, data in first.items():
            assert str(tmp_path).encode() not in data, path
        golden = json.loads(GOLDEN.read_text())[name]
        _assert_golden(name, {path: hashlib.sha256(data).hexdigest() for path, data in first.items()}, golden)
        return
    builds = [_compile(model, tmp_path / f"build-{seed}", seed) for seed in HASH_SEEDS]
    first, second = builds
    assert {"ir.json", "ir_quant.json", "report.json"} <= set(first)
    assert sorted(first) == sorted(second), "the two builds hold different files"
    differing = [path for path in first if first[path] != second[path]]
    assert differing == [], f"differ between PYTHONHASHSEED={HASH_SEEDS[0]} and {HASH_SEEDS[1]}: {differing}"
    for path, data in first.items():  # and no absolute path of the build machine leaks into them
        assert str(tmp_path).encode() not in data, path


def _assert_golden(name: str, digests: dict[str, str], golden: dict[str, str]) -> None:
    differing = sorted(p for p in set(digests) | set(golden) if digests.get(p) != golden.get(p))
    assert differing == [], (f"{name}: files differ from tests/golden/build_digests.json: {differing} (if the "
                             "change is meant, rerun tools/golden_builds.py --write and say why)")


def test_pruned_example_build_matches_the_golden_digests(tmp_path):
    files = _compile(EXAMPLES / "mlp_digits_pruned_qonnx.onnx", tmp_path / "build", "0")
    _assert_golden("pruned_qonnx", {p: hashlib.sha256(d).hexdigest() for p, d in files.items()},
                   json.loads(GOLDEN.read_text())["pruned_qonnx"])
