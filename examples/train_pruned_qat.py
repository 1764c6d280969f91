"""Brevitas QAT + balanced stochastic pruning of the digits MLP, exported to QONNX with the exact pattern.

The 8-bit QAT MLP of ``train_brevitas_mlp.py`` (8-bit input, weights, ReLUs; Int32 bias) is trained
dense, then pruned with ``hwprune.prune.Sparsifier`` — balanced stochastic, groups of 8 inputs, 75%
sparsity (2 of every 8 kept), cubic ramp with re-drawn masks — and fine-tuned with the masks in
place. Before export, a kept weight that would quantize to integer 0 is nudged to ±1 LSB, so the
integer weights in the QONNX file are non-zero exactly where the mask keeps them: the frontend plus
``hwprune.prune.detect.annotate_patterns`` recover the pattern losslessly.

Outputs (in --out):
  mlp_digits_pruned_qonnx.onnx        QONNX graph (Quant nodes, opset 13)
  mlp_digits_pruned_qonnx_masks.npz   the bool mask of each QuantLinear ("fc0", "fc1", "fc2")

Deterministic: rerunning with the same seed gives byte-identical files (< 30 s on one CPU core).

    python examples/train_pruned_qat.py --out examples --seed 0
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_brevitas_mlp import LINEARS, build_quant_mlp, export  # noqa: E402
from train_digits import save_npz_deterministic, start_example  # noqa: E402

# (train_digits puts the checkout on sys.path when hwprune is not installed)
from hwprune.prune.finetune import TrainConfig, accuracy, train  # noqa: E402
from hwprune.prune.schedules import Cubic  # noqa: E402
from hwprune.prune.sparsifier import Sparsifier  # noqa: E402

PATTERN, SPARSITY, PARAMS = "balanced_stochastic", 0.75, {"group_size": 8, "p": 2.0}
DENSE_EPOCHS, RAMP_EPOCHS, FINETUNE_EPOCHS = 10, 4, 12


def nudge_kept_zeros(model: torch.nn.Module, masks: dict[str, np.ndarray]) -> int:
    """Move kept weights that quantize to 0 onto ±1 LSB; returns how many were moved."""
    moved = 0
    with torch.no_grad():
        for name, mask in masks.items():
            layer = getattr(model, name)
            scale = float(layer.quant_weight().scale.max())
            w = layer.weight
            kept = torch.from_numpy(mask)
            small = kept & (w.abs() < 0.5 * scale)
            w[small] = torch.where(w[small] < 0, -scale, scale)
            moved += int(small.sum())
            ints = layer.quant_weight().int().numpy()
            if not np.array_equal(ints != 0, mask):
                raise AssertionError(f"{name}: integer weights do not keep the exact pattern")
    return moved


def main(argv: list[str] | None = None) -> None:
    args, data, t0 = start_example(__doc__, argv)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    x_te, y_te = torch.from_numpy(data.x_test), torch.from_numpy(data.y_test)

    torch.manual_seed(args.seed)
    model = build_quant_mlp()
    train(model, x, y, TrainConfig(DENSE_EPOCHS, 3e-3, 32, args.seed))
    print(f"dense QAT mlp: test accuracy {accuracy(model, x_te, y_te):.4f}")

    sp = Sparsifier(model, PATTERN, SPARSITY, Cubic(steps=RAMP_EPOCHS), params=PARAMS, seed=args.seed)
    sp.step()
    train(model, x, y, TrainConfig(RAMP_EPOCHS + FINETUNE_EPOCHS, 2e-3, 32, args.seed + 1),
          after_epoch=lambda epoch: sp.step())
    masks = sp.finalize()
    print(f"pruned QAT mlp ({PATTERN} {PARAMS}, sparsity {SPARSITY}): test accuracy {accuracy(model, x_te, y_te):.4f}")
    moved = nudge_kept_zeros(model, masks)
    print(f"kept weights nudged off integer 0: {moved}; test accuracy {accuracy(model, x_te, y_te):.4f}")

    onnx_path = args.out / "mlp_digits_pruned_qonnx.onnx"
    proto = export(model, x_te[:1], onnx_path)
    print(f"exported {onnx_path}: ops = {sorted({n.op_type for n in proto.graph.node})}")
    save_npz_deterministic(args.out / "mlp_digits_pruned_qonnx_masks.npz", **{n: masks[n] for n in LINEARS})
    print(f"total time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
