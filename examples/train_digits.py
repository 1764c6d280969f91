"""Train a float MLP and a small CNN on sklearn's 8x8 digits and export both to ONNX.

Outputs (in --out):
  mlp_digits.onnx   MLP 64-64-32-10, logits out
  cnn_digits.onnx   Conv/BN/ReLU/MaxPool CNN on [N,1,8,8]; BatchNormalization is kept
                    as its own node so the frontend's BN folding gets exercised
  calibration.npz  first 256 training samples: "input" [256,64], "input_images" [256,1,8,8]

Everything is deterministic: rerunning with the same seed gives byte-identical files.

    python examples/train_digits.py --out examples --seed 0
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

try:
    from hwprune.datasets import as_images, load_digits_split
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from hwprune.datasets import as_images, load_digits_split

CALIB_SAMPLES = 256
_FIXED_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


# --------------------------------------------------------------------------- helpers
# (also imported by train_brevitas_mlp.py)


def make_deterministic(seed: int) -> None:
    """Pin every source of run-to-run variation we control on CPU."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


def start_example(doc: str | None, argv: list[str] | None) -> tuple[argparse.Namespace, object, float]:
    """What every training script starts with: ``--out`` (default: this folder) and ``--seed``, the
    output folder made, torch made deterministic, the digits split loaded; returns (args, split, t0)."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    make_deterministic(args.seed)
    return args, load_digits_split(seed=args.seed), t0


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
) -> None:
    """Plain Adam + cross-entropy; batch order comes from a seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(x.shape[0], generator=gen)
        for start in range(0, x.shape[0], batch_size):
            idx = order[start : start + batch_size]
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()


def canonicalize_onnx(path: Path) -> onnx.ModelProto:
    """Re-save an exported model without free-text fields, so the bytes depend only on the graph."""
    model = onnx.load(str(path))
    model.doc_string = ""
    model.graph.doc_string = ""
    for node in model.graph.node:
        node.doc_string = ""
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString(deterministic=True))
    return model


def save_npz_deterministic(path: Path, **arrays: np.ndarray) -> None:
    """Like np.savez, but with fixed zip timestamps (np.savez stamps the current time)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(arr), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_ZIP_DATE), buf.getvalue())


def ort_logits(path: Path, x: np.ndarray) -> np.ndarray:
    """Run an ONNX file with onnxruntime (single-threaded, for reproducible numbers)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


# --------------------------------------------------------------------------- models


def build_mlp() -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            fc0=nn.Linear(64, 64),
            relu0=nn.ReLU(),
            fc1=nn.Linear(64, 32),
            relu1=nn.ReLU(),
            fc2=nn.Linear(32, 10),
        )
    )


def build_cnn() -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            conv0=nn.Conv2d(1, 8, 3, padding=1),
            bn0=nn.BatchNorm2d(8),
            relu0=nn.ReLU(),
            pool0=nn.MaxPool2d(2),
            conv1=nn.Conv2d(8, 16, 3, padding=1),
            relu1=nn.ReLU(),
            pool1=nn.MaxPool2d(2),  # -> [16, 2, 2]
            flatten=nn.Flatten(),
            fc=nn.Linear(64, 10),
        )
    )


def export(model: nn.Module, example: torch.Tensor, path: Path, keep_batchnorm: bool) -> None:
    """Export with the legacy TorchScript exporter.

    With the default TrainingMode.EVAL, constant folding fuses BatchNorm into
    the Conv, and without folding stray Identity nodes appear; PRESERVE (the
    model is already in eval mode) gives a clean inference-mode
    BatchNormalization node, which is what we want the frontend to fold.
    """
    if keep_batchnorm:
        extra = dict(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    else:
        extra = dict(do_constant_folding=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            **extra,
        )
    canonicalize_onnx(path)


def export_and_check(
    name: str, model: nn.Module, x_test: np.ndarray, y_test: np.ndarray, path: Path, keep_bn: bool
) -> float:
    """Export, then measure accuracy on the artefact itself and compare it against torch."""
    export(model, torch.from_numpy(x_test[:1]), path, keep_bn)
    logits = ort_logits(path, x_test)
    with torch.no_grad():
        ref = model(torch.from_numpy(x_test)).numpy()
    max_err = float(np.max(np.abs(logits - ref)))
    # 1e-5 absolute, relaxed by 1e-5 relative: logits reach ~20, where float32
    # accumulation order alone (ORT vs torch conv kernels) moves the last bits.
    np.testing.assert_allclose(logits, ref, rtol=1e-5, atol=1e-5, err_msg=f"{name}: ort vs torch")
    acc = float(np.mean(logits.argmax(axis=1) == y_test))
    ops = sorted({n.op_type for n in onnx.load(str(path)).graph.node})
    print(f"{name}: test accuracy (onnxruntime) = {acc:.4f}; ort-vs-torch max |diff| = {max_err:.2e}")
    print(f"{name}: ops = {ops} -> {path}")
    return acc


def main(argv: list[str] | None = None) -> None:
    args, data, t0 = start_example(__doc__, argv)
    x_tr, y_tr = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)

    torch.manual_seed(args.seed)
    mlp = build_mlp()
    train(mlp, x_tr, y_tr, epochs=30, lr=3e-3, batch_size=32, seed=args.seed)
    export_and_check("mlp", mlp, data.x_test, data.y_test, args.out / "mlp_digits.onnx", False)

    torch.manual_seed(args.seed)
    cnn = build_cnn()
    x_img = torch.from_numpy(np.ascontiguousarray(as_images(data.x_train)))
    train(cnn, x_img, y_tr, epochs=30, lr=3e-3, batch_size=32, seed=args.seed)
    x_test_img = np.ascontiguousarray(as_images(data.x_test))
    cnn_path = args.out / "cnn_digits.onnx"
    export_and_check("cnn", cnn, x_test_img, data.y_test, cnn_path, True)
    if not any(n.op_type == "BatchNormalization" for n in onnx.load(str(cnn_path)).graph.node):
        raise AssertionError("cnn: BatchNormalization was folded away during export")

    calib = np.ascontiguousarray(data.x_train[:CALIB_SAMPLES], dtype=np.float32)
    save_npz_deterministic(
        args.out / "calibration.npz",
        input=calib,
        input_images=np.ascontiguousarray(as_images(calib)),
    )
    print(f"calibration data -> {args.out / 'calibration.npz'}")
    print(f"total time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
