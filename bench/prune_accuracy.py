"""Accuracy of the digits MLP and CNN under each sparsity pattern, sparsity and pruning method.

For every (model, pattern, sparsity, method): prune the trained float model through the IR→torch
conversion (``hwprune.prune.onnx_io``), train, then measure top-1 on the digits test split in float and
in int8 (PTQ on ``examples/calibration.npz``, integer reference executor). Methods:
* ``one-shot+FT`` — masks from the trained weights, then FT_EPOCHS epochs of masked fine-tuning;
* ``ADMM`` — ADMM_EPOCHS epochs with the ρ/2‖W−Z+U‖² term (Z/U every epoch), hard prune, RETRAIN_EPOCHS.
Writes the ``prune_accuracy`` section of docs/benchmarks.md. Runs on a 2-process pool (one thread each).

Run: ``.venv/bin/python bench/prune_accuracy.py``
"""

from __future__ import annotations

import datetime
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _doc import publish  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MODELS = {"MLP": "mlp_digits.onnx", "CNN": "cnn_digits.onnx"}
SPARSITIES = (0.5, 0.75, 0.9)
FT_EPOCHS, ADMM_EPOCHS, RETRAIN_EPOCHS, LR = 10, 6, 4, 3e-3
LAST = {"MLP": "fc2", "CNN": "fc"}
SKIP = {"MLP": [], "CNN": ["conv0"]}  # the CNN's first conv (72 weights, 1 input channel) stays dense


def pattern_cases(model: str) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(label, pattern, params, extra Sparsifier kwargs) per model."""
    last = LAST[model]
    cases: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
        ("unstructured", "unstructured", {}, {}),
        ("N:M", "nm", {"m": 4}, {}),
        ("bank-balanced (4 banks)", "bank_balanced", {"banks": 4}, {}),
        ("balanced stochastic (g=8, p=2)", "balanced_stochastic", {"group_size": 8, "p": 2.0}, {}),
    ]
    if model == "CNN":
        cases += [
            # block-punched is a conv pattern (YOLObile prunes convs only): the fc layer gets the
            # matching companion — unstructured beside the unbalanced variant, balanced stochastic beside
            # the balanced one (a Dense layer is a 1×1 conv, whose 8×4 block is a single unit)
            ("block-punched 8×4 per layer (YOLObile; fc unstructured)", "block_punched", {},
             {"overrides": {last: {"pattern": "unstructured"}}}),
            ("block-punched 8×4 balanced (fc balanced stochastic)", "block_punched", {"balanced": True},
             {"overrides": {last: {"pattern": "balanced_stochastic", "group_size": 8}}}),
        ]
    cases.append(("channel (last layer dense)", "channel", {}, {"skip_last": True}))
    return cases


def run_case(model: str, label: str, pattern: str, params: dict[str, Any], extra: dict[str, Any], sparsity: float,
             method: str) -> dict[str, Any]:
    import torch

    from hwprune.datasets import as_images, load_digits_split
    from hwprune.frontend import import_onnx
    from hwprune.prune.finetune import TrainConfig, accuracy, admm_prune, one_shot_finetune
    from hwprune.prune.onnx_io import GraphModule, module_to_graph
    from hwprune.prune.patterns import get_pattern
    from hwprune.prune.patterns.base import storage_report
    from hwprune.prune.patterns.channel import shrink_channels
    from hwprune.quant import quantize_graph, run_integer

    torch.set_num_threads(1)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    data = load_digits_split(0)
    conv = model == "CNN"
    prep = (lambda a: np.ascontiguousarray(as_images(a))) if conv else (lambda a: a)
    x, y = torch.from_numpy(prep(data.x_train)), torch.from_numpy(data.y_train)
    xt, yt = torch.from_numpy(prep(data.x_test)), torch.from_numpy(data.y_test)
    if pattern == "nm" and sparsity > 0.8:
        params = {"m": 8}
    graph = import_onnx(str(ROOT / "examples" / MODELS[model]))
    module = GraphModule(graph)
    skip = list(SKIP[model]) + ([LAST[model]] if extra.get("skip_last") else [])
    kw = {"params": params, "skip": skip, "overrides": extra.get("overrides", {})}
    if method == "one-shot+FT":
        masks = one_shot_finetune(module, x, y, pattern, sparsity, TrainConfig(FT_EPOCHS, LR), **kw)
    else:
        masks, _ = admm_prune(module, x, y, pattern, sparsity, TrainConfig(RETRAIN_EPOCHS, LR),
                              admm_epochs=ADMM_EPOCHS, **kw)
    float_acc = accuracy(module, xt, yt)
    pruned = module_to_graph(module)
    # storage: every Dense/Conv weight, pruned layers with their pattern's metadata, others dense
    total = None
    kept_all = meta_bits = 0
    for name, layer in module.named_children():
        shape = tuple(layer.weight.shape)
        if name in masks:
            spec = dict(kw["overrides"].get(name, {}))
            p = get_pattern(spec.pop("pattern", pattern), **(spec if "pattern" in kw["overrides"].get(name, {})
                                                              else params))
            rep = storage_report(p, shape, int(masks[name].sum()), sparsity)
            kept_all += rep.kept
            meta_bits += rep.metadata_bits
        else:
            rep = storage_report(get_pattern("dense"), shape, int(np.prod(shape)), 0.0)
        total = rep if total is None else total + rep
    assert total is not None
    storage = total.ratio_vs_dense
    if pattern == "channel":
        shrunk, _ = shrink_channels(pruned)
        weights = sum(int(np.prod(shrunk.tensor(n.inputs[1]).shape)) for n in shrunk.nodes if n.op in ("Dense", "Conv"))
        storage, pruned = weights / total.weights, shrunk
    calib = np.load(ROOT / "examples" / "calibration.npz")
    qgraph = quantize_graph(pruned, {pruned.inputs[0]: calib["input_images" if conv else "input"]})
    logits = run_integer(qgraph, {pruned.inputs[0]: xt.numpy()})[qgraph.outputs[0]]
    int_acc = float((logits.argmax(axis=1) == data.y_test).mean())
    pruned_weights = sum(m.size for m in masks.values())
    reached = 1.0 - sum(int(m.sum()) for m in masks.values()) / pruned_weights
    return {
        "model": model, "label": label, "sparsity": sparsity, "method": method, "reached": reached,
        "float": float_acc, "int8": int_acc, "meta": meta_bits / kept_all if kept_all else 0.0,
        "storage": storage, "seconds": time.perf_counter() - t0,
    }


def baseline(model: str) -> tuple[float, float]:
    from hwprune.datasets import as_images, load_digits_split
    from hwprune.frontend import import_onnx
    from hwprune.ir.execute import run_float
    from hwprune.quant import quantize_graph, run_integer

    data = load_digits_split(0)
    xt = np.ascontiguousarray(as_images(data.x_test)) if model == "CNN" else data.x_test
    graph = import_onnx(str(ROOT / "examples" / MODELS[model]))
    calib = np.load(ROOT / "examples" / "calibration.npz")
    q = quantize_graph(graph, {graph.inputs[0]: calib["input_images" if model == "CNN" else "input"]})
    f = run_float(graph, {graph.inputs[0]: xt})[graph.outputs[0]]
    i = run_integer(q, {graph.inputs[0]: xt})[q.outputs[0]]
    return float((f.argmax(1) == data.y_test).mean()), float((i.argmax(1) == data.y_test).mean())


def main() -> int:
    t0 = time.perf_counter()
    jobs = [(m, label, pat, params, extra, s, method)
            for m in MODELS for (label, pat, params, extra) in pattern_cases(m)
            for s in SPARSITIES for method in ("one-shot+FT", "ADMM")]
    with ProcessPoolExecutor(max_workers=2) as pool:
        rows = list(pool.map(run_case, *zip(*jobs)))
    bases = {m: baseline(m) for m in MODELS}
    elapsed = time.perf_counter() - t0
    lines = [
        "## Pruning accuracy (patterns × sparsity × method)",
        "",
        f"Measured {datetime.date.today().isoformat()} by `bench/prune_accuracy.py` in {elapsed:.0f} s (2 processes): "
        "digits test split (360 images, seed 0); int8 = PTQ on `examples/calibration.npz`, integer reference. "
        f"one-shot+FT = masks from the trained model + {FT_EPOCHS} epochs masked fine-tuning; ADMM = {ADMM_EPOCHS} "
        f"epochs with ρ/2‖W−Z+U‖² (ρ 0.03, ×2 per epoch), hard prune, {RETRAIN_EPOCHS} epochs masked retraining "
        f"(Adam, lr {LR:g}). Every Dense/Conv is pruned except the CNN's first conv; channel pruning keeps the "
        "output layer; block-punched rows prune the conv with block-punched and the fc as named. *reached* = zeros over the pruned layers (balanced patterns round to whole weights per "
        "group: 90% becomes 1 of 8 = 87.5%; N:M uses 2:4, 1:4, 1:8). *meta* = index bits per kept weight "
        "(unstructured: a column index; block-punched: one kh·kw bitmap per block). *storage* = (values + "
        "metadata) of all layers / dense 8-bit.",
        "",
        "| model | pattern | target | reached | method | float top-1 | int8 top-1 | meta bits/kept | storage vs dense |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for m, (f, i) in bases.items():
        lines.append(f"| {m} | dense (unpruned) | 0% | 0% | — | {100 * f:.2f}% | {100 * i:.2f}% | 0 | 100% |")
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['label']} | {100 * r['sparsity']:.0f}% | {100 * r['reached']:.1f}% | {r['method']} "
            f"| {100 * r['float']:.2f}% | {100 * r['int8']:.2f}% | {r['meta']:.3g} | {100 * r['storage']:.1f}% |"
        )
    publish("prune_accuracy", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
