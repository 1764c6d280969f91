"""The model zoo (examples/zoo/build_zoo.py) through ``hwprune compile --no-estimate`` for the ZCU102 and
the PYNQ-Z2, each build then checked by ``hwprune sim`` on its own golden vectors (``--vectors 0``: the
four edge vectors per layer and for the network top, the first four calibration samples for HLS).

* ``test_zoo_network_end_to_end`` (``make test``): ResNet-8 (residual Adds, 1x1 shortcut convs) and
  DS-CNN (depthwise convs, average pool) on the ZCU102: the network top bit- and cycle-exact, with and
  without backpressure (``hwprune sim --no-layers``), and the HLS C-sim bit-exact (``--hls``). The
  per-layer replay is left out here: each of their conv layers runs 4 frames of 72,000-147,456 cycles
  twice (timed and backpressure), 10-16 s a layer, while the network top checks them all in context.
* ``test_zoo_model`` (``exhaustive``, ``make test-all``): every model on both boards. What fits passes
  the whole ``hwprune sim`` (every layer bit- and cycle-exact with backpressure, the network top, the
  HLS C-sim); what does not fit must be refused with the fitter's message and exit code 2 (a correct
  result, not a failure). A case that fails today would be a strict xfail naming its exact error
  (``KnownCompileError``); none does.

The Verilated models are compiled at ``-Os`` here (the suite's default is ``-O0``): a zoo network runs
hundreds of thousands of cycles per vector, so simulation speed outweighs the compile time
(``hwprune.sim.rtl_runner.model_opt_level``).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from hwprune.cli import main

pytestmark = pytest.mark.sim
ROOT = Path(__file__).resolve().parents[2]
VECTORS = "0"  # hwprune compile --vectors: no random vectors, only the four edge vectors


class KnownCompileError(AssertionError):
    """The compile failed with exactly the error recorded in ``CASES`` (the only failure an xfail accepts)."""


def _no_fit(board: str, budget: str, over: str) -> tuple[str, tuple[str, ...]]:
    return ("refused", (f"the model does not fit board '{board}' at max_util 0.8 ({budget}): its smallest "
                        "configuration (fewest lanes and MACs per layer) needs", f"over on {over};"))


PYNQ = "budget DSP 176, BRAM18 224, LUT 42560, FF 85120"


# (model, board) -> None: compiles and simulates; ("refused", parts): the fitter's refusal, exit 2, its
# line containing every part; ("error", parts): today's exact compile error (strict xfail; none left).
CASES: dict[tuple[str, str], tuple[str, tuple[str, ...]] | None] = {
    ("jet_mlp", "zcu102"): None,
    ("jet_mlp", "pynq-z2"): None,
    ("fc_autoencoder", "zcu102"): None,
    ("fc_autoencoder", "pynq-z2"): None,
    ("ds_cnn", "zcu102"): None,
    ("ds_cnn", "pynq-z2"): None,
    ("mobilenet_v1_025", "zcu102"): None,
    ("mobilenet_v1_025", "pynq-z2"): None,
    ("resnet8", "zcu102"): None,
    ("resnet8", "pynq-z2"): None,
    ("mobilenet_v2", "zcu102"): None,
    ("mobilenet_v2", "pynq-z2"): _no_fit("pynq-z2", PYNQ, "BRAM18 (needs 1064, available 224), LUT (needs 80714, "
                                                          "available 42560)"),
    ("resnet18", "zcu102"): _no_fit("zcu102", "budget DSP 2016, BRAM18 1459, LUT 219264, FF 438528",
                                    "BRAM18 (needs 4955, available 1459)"),
    ("resnet18", "pynq-z2"): _no_fit("pynq-z2", PYNQ, "BRAM18 (needs 4935, available 224), LUT (needs 43149, "
                                                      "available 42560)"),
}
DEFAULT = [("resnet8", "zcu102"), ("ds_cnn", "zcu102")]
"""What ``make test`` runs end to end (network top and HLS), one residual and one depthwise model."""


def _load_zoo():
    spec = importlib.util.spec_from_file_location("build_zoo", ROOT / "examples" / "zoo" / "build_zoo.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules.setdefault("build_zoo", module)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("zoo")


@pytest.fixture(autouse=True)
def _fast_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWPRUNE_VERILATOR_OPT", "-Os")


def _compile(model: str, board: str, zoo_dir: Path, build: Path, capsys) -> tuple[int, str]:
    """``hwprune compile`` of a zoo model (written on first use); (exit code, stderr)."""
    onnx = zoo_dir / model / f"{model}.onnx"
    if not onnx.exists():
        _load_zoo().write_zoo_model(model, zoo_dir)
    capsys.readouterr()
    rc = main(["compile", str(onnx), "--board", board, "--no-estimate", "--vectors", VECTORS, "-o", str(build)])
    return rc, capsys.readouterr().err


def _first_error(err: str) -> str:
    return next((line for line in err.splitlines() if line.startswith("hwprune: error:")), err)


def _check_network(out: str, vectors: int) -> None:
    """``hwprune sim``'s network line: all vectors, bit-exact, measured cycles = the model's."""
    assert "MISMATCH" not in out and "FAILED" not in out, out
    network = next(line.split() for line in out.splitlines() if line.startswith("network "))
    measured, predicted = network[3].split("/")
    assert network[1] == str(vectors) and network[2] == "yes" and measured == predicted, out


def _check_hls(build: Path, capsys) -> None:
    assert main(["sim", str(build), "--hls"]) == 0
    out = capsys.readouterr().out
    assert "HLS C-sim PASS" in out and "4/4 vectors bit-exact" in out, out


def _plan(build: Path) -> dict:
    return json.loads((build / "rtl" / "network.json").read_text())["plan"]


@pytest.mark.parametrize("model,board", DEFAULT, ids=[f"{m}-{b}" for m, b in DEFAULT])
def test_zoo_network_end_to_end(model: str, board: str, zoo_dir: Path, tmp_path: Path, capsys) -> None:
    build = tmp_path / "build"
    rc, err = _compile(model, board, zoo_dir, build, capsys)
    assert rc == 0, _first_error(err)
    kinds = [stage["kind"] for stage in _plan(build)["stages"]]
    kernels = json.loads((build / "kernels.json").read_text())["kernels"]
    if model == "resnet8":  # three residual blocks (a fork and an add each), the 8x8 average pool as one stage
        assert (kinds.count("fork"), kinds.count("add"), kinds.count("globalavg")) == (3, 3, 1), kinds
    else:  # DS-CNN: four depthwise 3x3 convs (one group per channel), the 25x5 average pool as one stage
        depthwise = [k for k in kernels if k["conv"] and k["conv"]["group"] == k["conv"]["in_channels"] > 1]
        assert len(depthwise) == 4 and kinds.count("globalavg") == 1, kinds
    assert main(["sim", str(build), "--no-layers"]) == 0
    out = capsys.readouterr().out
    _check_network(out, 4)
    assert "the network: bit-exact and cycle-exact" in out, out
    _check_hls(build, capsys)


def _param(model: str, board: str):
    expected = CASES[model, board]
    marks = [pytest.mark.exhaustive, pytest.mark.slow]
    if expected is not None and expected[0] == "error":
        marks.append(pytest.mark.xfail(strict=True, raises=KnownCompileError, reason=" … ".join(expected[1])))
    return pytest.param(model, board, expected, marks=marks, id=f"{model}-{board}")


@pytest.mark.parametrize("model,board,expected", [_param(m, b) for m, b in CASES])
def test_zoo_model(model: str, board: str, expected: tuple[str, tuple[str, ...]] | None, zoo_dir: Path, tmp_path: Path,
                   capsys) -> None:
    build = tmp_path / "build"
    rc, err = _compile(model, board, zoo_dir, build, capsys)
    if expected is not None and expected[0] == "refused":
        assert rc == 2 and all(part in _first_error(err) for part in expected[1]) and not build.exists(), (rc, err)
        return
    if rc != 0:
        if expected is not None and all(part in _first_error(err) for part in expected[1]):
            raise KnownCompileError(_first_error(err))
        pytest.fail(f"compile exited {rc}: {_first_error(err)}")
    layers = len(json.loads((build / "kernels.json").read_text())["kernels"])
    assert main(["sim", str(build)]) == 0
    out = capsys.readouterr().out
    assert f"all {layers} layers and the network: bit-exact and cycle-exact" in out, out
    rows = [line.split() for line in out.splitlines() if line.startswith("/")]
    assert len(rows) == layers and all(r[2] == "yes" and r[3].split("/")[0] == r[3].split("/")[1] for r in rows), out
    _check_network(out, 4)
    _check_hls(build, capsys)
