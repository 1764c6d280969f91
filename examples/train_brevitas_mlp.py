"""Quantization-aware training of an 8-bit MLP (64-64-32-10) on digits with Brevitas; export to QONNX.

Outputs (in --out):
  mlp_digits_qonnx.onnx              QONNX graph (Quant nodes, opset 13)
  mlp_digits_qonnx_intweights.npz    per QuantLinear "<name>_int" (int64) and "<name>_scale"
                                     (float32): the exact integer weights Brevitas holds,
                                     used as ground truth for our QONNX importer

Deterministic: rerunning with the same seed gives byte-identical files.

    python examples/train_brevitas_mlp.py --out examples --seed 0
"""

from __future__ import annotations

import copy
import os
import sys
import time
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_digits import (  # noqa: E402  (shared deterministic helpers)
    canonicalize_onnx,
    start_example,
    save_npz_deterministic,
    train,
)

with warnings.catch_warnings():  # "fast_hadamard_transform package not found": irrelevant here
    warnings.filterwarnings("ignore", message=".*fast_hadamard_transform.*")
    import brevitas.nn as qnn  # noqa: E402
    from brevitas.export import export_qonnx  # noqa: E402
    from brevitas.quant import Int32Bias  # noqa: E402

QONNX_OPSET = 13
LINEARS = ("fc0", "fc1", "fc2")


def build_quant_mlp() -> nn.Sequential:
    """8-bit weights and activations; the input is quantized too, so every MAC is integer."""

    def linear(i: int, o: int) -> qnn.QuantLinear:
        # Int32Bias: bias scale = input scale * weight scale, i.e. an accumulator-aligned integer.
        return qnn.QuantLinear(
            i, o, bias=True, weight_bit_width=8, bias_quant=Int32Bias, return_quant_tensor=False
        )

    return nn.Sequential(
        OrderedDict(
            quant_in=qnn.QuantIdentity(bit_width=8, return_quant_tensor=True),
            fc0=linear(64, 64),
            relu0=qnn.QuantReLU(bit_width=8, return_quant_tensor=True),
            fc1=linear(64, 32),
            relu1=qnn.QuantReLU(bit_width=8, return_quant_tensor=True),
            fc2=linear(32, 10),
        )
    )


def export(model: nn.Module, example: torch.Tensor, path: Path) -> onnx.ModelProto:
    """export_qonnx, forced onto the TorchScript exporter (Brevitas defaults to dynamo on torch>=2.9)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        export_qonnx(
            model,
            args=example,
            export_path=str(path),
            dynamo=False,
            opset_version=QONNX_OPSET,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            keep_initializers_as_inputs=False,
        )
    return canonicalize_onnx(path)


def check_with_qonnx(path: Path, model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Load with qonnx, run its reference executor, and compare against Brevitas' float output."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.util.cleanup import cleanup_model

    proto = onnx.load(str(path))
    # onnxruntime (used by execute_onnx for standard nodes) rejects newer IR versions.
    proto.ir_version = min(proto.ir_version, 10)
    cleaned = cleanup_model(ModelWrapper(copy.deepcopy(proto)))  # only proves it loads/cleans
    print(f"qonnx cleanup ok: ops = {sorted({n.op_type for n in cleaned.graph.node})}")

    # qonnx's executor needs concrete shapes: pin the dynamic batch dim to len(x) in this copy.
    for vi in (*proto.graph.input, *proto.graph.output):
        vi.type.tensor_type.shape.dim[0].dim_value = len(x)
    del proto.graph.value_info[:]
    wrapper = ModelWrapper(proto).transform(InferShapes())
    got = execute_onnx(wrapper, {"input": x})["logits"]
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    max_err = float(np.max(np.abs(got - ref)))
    if max_err > 1e-4:
        raise AssertionError(f"qonnx execute vs brevitas max |diff| = {max_err:.3g} > 1e-4")
    acc = float(np.mean(got.argmax(axis=1) == y))
    print(f"qonnx execute_onnx vs brevitas: max |diff| = {max_err:.2e} on {len(x)} samples")
    return acc


def main(argv: list[str] | None = None) -> None:
    args, data, t0 = start_example(__doc__, argv)
    x_tr, y_tr = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)

    torch.manual_seed(args.seed)
    model = build_quant_mlp()
    train(model, x_tr, y_tr, epochs=30, lr=3e-3, batch_size=32, seed=args.seed)
    with torch.no_grad():
        logits = model(torch.from_numpy(data.x_test))
    acc_torch = float((logits.argmax(1).numpy() == data.y_test).mean())
    print(f"brevitas QAT mlp: test accuracy (torch) = {acc_torch:.4f}")

    onnx_path = args.out / "mlp_digits_qonnx.onnx"
    proto = export(model, torch.from_numpy(data.x_test[:1]), onnx_path)
    print(f"exported {onnx_path}: ops = {sorted({n.op_type for n in proto.graph.node})}")

    ints = {}
    with torch.no_grad():
        for name in LINEARS:
            qw = getattr(model, name).quant_weight()
            ints[f"{name}_int"] = qw.int().detach().numpy().astype(np.int64)
            ints[f"{name}_scale"] = qw.scale.detach().numpy().astype(np.float32)
    save_npz_deterministic(args.out / "mlp_digits_qonnx_intweights.npz", **ints)

    acc = check_with_qonnx(onnx_path, model, data.x_test, data.y_test)
    print(f"brevitas QAT mlp: test accuracy (qonnx execute_onnx) = {acc:.4f}")
    print(f"total time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
