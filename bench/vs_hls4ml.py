"""hwprune's HLS path vs hls4ml on the dense example MLP: prediction agreement and build wall time.

Run: ``.venv/bin/python bench/vs_hls4ml.py`` (part of ``make bench``). Both tools take
``examples/mlp_digits.onnx`` and the 360-image digits test split, in one process, one after the
other; imports are done before any clock starts. For each tool:

- *convert*: ONNX file → a written HLS project (hwprune: import, PTQ calibration on
  ``examples/calibration.npz``, lowering, ``write_hls`` + golden vectors; hls4ml: the qonnx clean-up
  its ONNX front end needs, ``config_from_onnx_model``, ``convert_from_onnx_model``, Vitis backend,
  ``io_parallel``, default precision);
- *C-sim build*: g++ build of the C simulation (hwprune: ``run_csim``'s compile; hls4ml: ``compile()``);
- *C-sim run*: the 360 predictions (hwprune: the testbench binary; hls4ml: ``predict()``);
- *agreement*: share of argmax predictions equal to the tool's own reference (hwprune: the integer
  reference ``run_integer``, which it must match bit for bit; hls4ml: the float model in onnxruntime)
  and to the float model for both, plus top-1 accuracy on the labels.

Writes the ``vs_hls4ml`` section of docs/benchmarks.md; a failed hls4ml conversion is recorded with its
exact error instead of numbers.
"""

from __future__ import annotations

import datetime
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _doc import publish  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "examples" / "mlp_digits.onnx"


def float_logits(x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})[0]


def run_hwprune(x: np.ndarray, work: Path) -> dict[str, Any]:
    from hwprune.backends.hls import write_hls
    from hwprune.frontend import import_onnx
    from hwprune.lower.lowering import lower_graph
    from hwprune.quant import quantize_graph, run_integer
    from hwprune.quant.calibrate import load_calibration
    from hwprune.sim.csim import run_csim, write_network_vectors

    start = time.perf_counter()
    graph = import_onnx(str(MODEL))
    qgraph = quantize_graph(graph, load_calibration(str(ROOT / "examples" / "calibration.npz"), graph))
    project = write_hls(lower_graph(qgraph), qgraph, "zcu102", work / "hls")
    write_network_vectors(project.root, qgraph, x)
    convert = time.perf_counter() - start
    result = run_csim(project.root)
    if not result.passed:
        raise RuntimeError(result.summary())
    logits = result.tops[project.project].actual
    reference = run_integer(qgraph, {qgraph.inputs[0]: x})[qgraph.outputs[0]]
    return {"convert": convert, "build": result.compile.seconds, "run": result.run_seconds,
            "pred": logits.argmax(axis=1), "ref_pred": reference.argmax(axis=1),
            "bit_exact": bool(np.array_equal(logits, reference))}


def _hls4ml_onnx(path: Path) -> Any:
    """The ONNX model in the form hls4ml 1.3's ONNX front end accepts (it rejects Gemm)."""
    import onnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    model = onnx.load(str(path))
    model.ir_version = min(model.ir_version, 10)  # qonnx/onnxruntime limit, see docs/TOOLCHAIN
    wrapper = cleanup_model(ModelWrapper(model))
    wrapper = wrapper.transform(ConvertToChannelsLastAndClean())
    return cleanup_model(wrapper.transform(GemmToMatMul()))


def run_hls4ml(x: np.ndarray, work: Path, reference: np.ndarray) -> dict[str, Any]:
    import hls4ml

    start = time.perf_counter()
    model = _hls4ml_onnx(MODEL)
    config = hls4ml.utils.config_from_onnx_model(model, granularity="model", backend="Vitis")
    hls_model = hls4ml.converters.convert_from_onnx_model(
        model, output_dir=str(work / "hls4ml_prj"), backend="Vitis", io_type="io_parallel", hls_config=config)
    hls_model.write()
    convert = time.perf_counter() - start
    start = time.perf_counter()
    hls_model.compile()
    build = time.perf_counter() - start
    start = time.perf_counter()
    logits = np.asarray(hls_model.predict(np.ascontiguousarray(x, dtype=np.float32))).reshape(len(x), -1)
    run = time.perf_counter() - start
    precision = config["Model"]["Precision"]
    return {"convert": convert, "build": build, "run": run, "pred": logits.argmax(axis=1),
            "ref_pred": reference.argmax(axis=1), "version": hls4ml.__version__,
            "precision": precision.get("default", precision) if isinstance(precision, dict) else precision}


def _pct(a: np.ndarray, b: np.ndarray) -> str:
    return f"{100.0 * float((a == b).mean()):.2f}%"


def main() -> int:
    import hls4ml  # noqa: F401  (import cost outside the clocks)
    import hwprune.backends.hls  # noqa: F401
    import hwprune.frontend  # noqa: F401
    import hwprune.sim.csim  # noqa: F401
    from hwprune.datasets import load_digits_split

    digits = load_digits_split(0)
    x, labels = digits.x_test, digits.y_test
    reference_float = float_logits(x)
    float_pred = reference_float.argmax(axis=1)
    with tempfile.TemporaryDirectory() as tmp:
        ours = run_hwprune(x, Path(tmp))
        try:
            theirs: dict[str, Any] | None = run_hls4ml(x, Path(tmp), reference_float)
            error = ""
        except Exception as exc:  # record exactly what hls4ml said
            theirs, error = None, f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
    gxx = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    lines = [
        "## hwprune HLS vs hls4ml (dense MLP, C-simulation)",
        "",
        f"Measured {datetime.date.today().isoformat()} by `bench/vs_hls4ml.py` on {platform.machine()} "
        f"({gxx}): `examples/mlp_digits.onnx` (64-64-32-10, unpruned), digits test split ({len(x)} images, "
        "seed 0), both tools in one run, imports excluded from the clocks. hwprune: int8 PTQ, "
        "`write_hls` for zcu102, `run_csim` (g++ -O1). hls4ml: qonnx clean-up (Gemm → MatMul), Vitis "
        "backend, `io_parallel`, Latency strategy, default precision, `compile()` + `predict()`. "
        "Reference of each tool: hwprune's "
        "integer reference (`run_integer`); hls4ml's float model (onnxruntime).",
        "",
        "| tool | convert (s) | C-sim build (s) | C-sim run (s) | argmax = own reference "
        "| argmax = float model | top-1 |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| hwprune {__import__('hwprune').__version__} (int8) | {ours['convert']:.2f} | "
        f"{ours['build']:.2f} | {ours['run']:.2f} | {_pct(ours['pred'], ours['ref_pred'])} (bit-exact "
        f"logits: {'yes' if ours['bit_exact'] else 'NO'}) | {_pct(ours['pred'], float_pred)} | "
        f"{_pct(ours['pred'], labels)} |",
    ]
    if theirs is not None:
        lines.append(
            f"| hls4ml {theirs['version']} (`{theirs['precision']}`) | {theirs['convert']:.2f} | "
            f"{theirs['build']:.2f} | {theirs['run']:.2f} | {_pct(theirs['pred'], theirs['ref_pred'])} | "
            f"{_pct(theirs['pred'], float_pred)} | {_pct(theirs['pred'], labels)} |")
    else:
        lines.append(f"| hls4ml | conversion failed: `{error}` | | | | | |")
    lines += ["", f"Float model top-1: {_pct(float_pred, labels)}. hls4ml's default precision is not tuned "
              "here; its agreement reflects that default, not the best it can do."]
    publish("vs_hls4ml", lines)
    return 0 if ours["bit_exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
