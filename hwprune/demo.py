"""``make demo``: compile the bundled digits models for the ZCU102 and print what came out."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from hwprune.config import CompileConfig
from hwprune.datasets import load_digits_split
from hwprune.flow import compile_model

__all__ = ["EXAMPLES", "run_demo"]

EXAMPLES = ("mlp_digits.onnx", "cnn_digits.onnx", "mlp_digits_qonnx.onnx", "mlp_digits_pruned_qonnx.onnx")
SIMULATED = "mlp_digits_pruned_qonnx.onnx"
"""The example whose RTL and HLS the demo also simulates (the 75%-pruned, balanced one)."""


def write_digits_eval(path: Path, seed: int = 0) -> Path:
    """The held-out digits split as ``x``/``y`` arrays, the form ``--eval-data`` reads."""
    split = load_digits_split(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=split.x_test, y=split.y_test)
    return path


def run_demo(examples_dir: Path, build_dir: Path, board: str = "zcu102") -> list[dict[str, object]]:
    eval_path = write_digits_eval(build_dir / "digits_test.npz")
    rows = []
    for name in EXAMPLES:
        config = CompileConfig(board=board, eval_data=str(eval_path))
        out = build_dir / Path(name).stem / board
        ctx = compile_model(examples_dir / name, out, config)
        rows.append({"model": name, "out": str(out), **ctx.accuracy})
    return rows


def main() -> int:
    from hwprune.cli import main as cli

    root = Path(__file__).resolve().parent.parent
    rows = run_demo(root / "examples", root / "build" / "demo")
    print(f"{'model':<30} {'float top-1':>12} {'int8 top-1':>11}  build directory")
    for row in rows:
        print(f"{row['model']:<30} {row['float_top1']:>11.2f}% {row['integer_top1']:>10.2f}%  {row['out']}")
    build = next(str(row["out"]) for row in rows if row["model"] == SIMULATED)
    print(f"\nRTL simulation of {SIMULATED} (Verilator + cocotb):")
    status = cli(["sim", build, "--no-backpressure"])
    print(f"\nHLS C-simulation of {SIMULATED} (g++):")
    return status or cli(["sim", build, "--hls"])


if __name__ == "__main__":
    sys.exit(main())
