"""Token selectors on the digits ViT: accuracy (float, integer selectors), keep ratios, agreement,
token-MACs saved, and the error of the fixed-point nonlinearities.

Run: ``.venv/bin/python bench/token_accuracy.py`` (part of ``make bench``); it reads the committed
``examples/vit_digits.npz`` (retrain with ``examples/train_vit_digits.py``).
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _doc import publish  # noqa: E402

from hwprune.datasets import load_digits_split  # noqa: E402
from hwprune.tokens.artefacts import load_vit  # noqa: E402
from hwprune.tokens.errors_report import INPUT_SCALE, approximation_errors, format_error_table  # noqa: E402
from hwprune.tokens.int_eval import calibrate_int_selectors, measure_agreement  # noqa: E402
from hwprune.tokens.training import evaluate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def block_macs(rows: float, dim: int, hidden: int) -> float:
    """MACs of one pre-norm block on ``rows`` tokens: qkv + proj + MLP (linear) and QKᵀ, AV (quadratic)."""
    return rows * (4 * dim * dim + 2 * dim * hidden) + 2 * rows * rows * dim


def main() -> int:
    torch.set_num_threads(1)
    data = load_digits_split(0)
    model = load_vit(ROOT / "examples" / "vit_digits.npz")
    x, y = torch.from_numpy(data.x_test), torch.from_numpy(data.y_test)
    full = evaluate(model, x, y, use_selectors=False)
    selectors = calibrate_int_selectors(model, torch.from_numpy(data.x_train[:256]))
    agree = measure_agreement(model, selectors, x, y)
    cfg, n = model.cfg, model.cfg.tokens

    with torch.no_grad():  # exact mean MACs over the test images: every image's real row counts
        dense = sum(block_macs(1 + n, cfg.dim, cfg.mlp_hidden) for _ in range(cfg.depth)) * len(x)
        pruned = 0.0
        for image in x:
            rows = 1 + n
            _, steps = model.forward_compact(image)
            it = iter(steps)
            for index in range(cfg.depth):
                if index in cfg.selector_blocks:
                    rows = next(it).tokens.shape[0]
                pruned += block_macs(rows, cfg.dim, cfg.mlp_hidden)
    saved = 100.0 * (1 - pruned / dense)
    d = cfg.dim // cfg.heads
    per_token = cfg.heads * (d * (d // 2) + 2 * (d // 2) * (d // 2) + (d // 2) * (d // 4) + (d // 4) * 2)
    overhead = 100.0 * per_token * n * len(cfg.selector_blocks) / block_macs(1 + n, cfg.dim, cfg.mlp_hidden) / cfg.depth

    blocks = ", ".join(str(b) for b in cfg.selector_blocks)
    lines = [
        "## Token selectors (HeatViT-style) on the digits ViT",
        "",
        f"Measured {datetime.date.today().isoformat()} by `bench/token_accuracy.py`: `examples/vit_digits.npz` "
        f"(dim {cfg.dim}, {cfg.heads} heads, {cfg.depth} blocks, selectors before blocks {blocks}), digits test "
        "split (360 images, seed 0). Integer selectors calibrated on 256 training images; the blocks stay float.",
        "",
        "| model | top-1 | patch tokens alive after each selector | block MACs saved |",
        "|---|---:|---|---:|",
        f"| unpruned (same weights, selectors off) | {full.accuracy:.2f}% | 1.000 | 0.0% |",
        f"| float selectors | {agree.float_accuracy:.2f}% | "
        f"{', '.join(f'{k:.3f}' for k in agree.float_keep)} | {saved:.1f}% |",
        f"| int8 selectors (integer reference) | {agree.int_accuracy:.2f}% | "
        f"{', '.join(f'{k:.3f}' for k in agree.int_keep)} | — |",
        "",
        f"Block MACs: linear layers plus QKᵀ and AV of every block at its real row count (class, kept, package), "
        f"averaged over the test images. The selectors themselves add {per_token} MACs per scored token, at most "
        f"{overhead:.1f}% of the unpruned network's block MACs.",
        "",
        "Keep decisions, integer vs float on the same selector input: "
        + ", ".join(f"{a:.2f}%" for a in agree.agreement)
        + " agree (per selector). Package token where both fused the same set: max "
        + ", ".join(f"{e:.1f}" for e in agree.package_err_lsb) + " input LSBs apart (the score weights differ).",
        "",
        f"Fixed-point nonlinearities vs the exact functions (input scale {INPUT_SCALE:g}; absolute errors):",
        "",
        format_error_table(approximation_errors()),
    ]
    publish("token_accuracy", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
