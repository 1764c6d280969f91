"""Token pruning on the digits ViT: keep ratio vs accuracy (float and int8 selectors) vs MACs saved,
against the unpruned ViT, plus the hardware selector's latency from its cycle model.

Run: ``.venv/bin/python bench/token_pruning.py`` (part of ``make bench``). It reads the committed
``examples/vit_digits.npz`` (backbone and the committed selectors) and, for each keep ratio r per
selector (targets r and r² of the patch tokens), refits both selectors from a fixed initialisation with
stage 2a of the training recipe (``warm_start_selectors``: backbone frozen, seconds), then measures
the float selectors (masked path) and the int8 selectors (``IntSelector``, the golden model the RTL
and HLS selectors are bit-exact with) in the loop, with the blocks float.
"""

from __future__ import annotations

import copy
import datetime
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _doc import publish  # noqa: E402
from token_accuracy import block_macs  # noqa: E402

from hwprune.datasets import load_digits_split  # noqa: E402
from hwprune.tokens.artefacts import load_vit  # noqa: E402
from hwprune.tokens.cycles import selector_cycles  # noqa: E402
from hwprune.tokens.hardware import SelectorHardware  # noqa: E402
from hwprune.tokens.int_eval import IntSelectFn, calibrate_int_selectors  # noqa: E402
from hwprune.tokens.selector import TokenSelector  # noqa: E402
from hwprune.tokens.training import TrainConfig, evaluate, make_deterministic, warm_start_selectors  # noqa: E402
from hwprune.tokens.vit import DigitsViT  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RATIOS = (0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
TARGET_REMOVED, TARGET_DROP = 40.0, 1.0


@torch.no_grad()
def int8_run(model: DigitsViT, selectors: dict, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Top-1 with int8 selectors in the loop; rows of every block; mean selector cycles (cycle model)."""
    cfg, n = model.cfg, model.cfg.tokens
    hardware = {b: SelectorHardware.of(s, n + 2, f"sel{b}") for b, s in selectors.items()}
    fn = IntSelectFn(selectors)
    correct, macs, rows_pruned, cycles = 0, 0.0, 0.0, 0.0
    pruned_blocks = [b for b in range(cfg.depth) if b >= cfg.selector_blocks[0]]
    for image, label in zip(x, y):
        logits, steps = model.forward_compact(image, fn)
        correct += int(int(logits.argmax()) == int(label))
        rows, it = 1 + n, iter(steps)
        for index in range(cfg.depth):
            if index in cfg.selector_blocks:
                step = next(it)
                cycles += selector_cycles(hardware[index], rows, int(step.keep.sum()))
                rows = step.tokens.shape[0]
            macs += block_macs(rows, cfg.dim, cfg.mlp_hidden)
            if index in pruned_blocks:
                rows_pruned += rows
    count = len(x)
    dense = block_macs(1 + n, cfg.dim, cfg.mlp_hidden) * cfg.depth
    return {"acc": 100.0 * correct / count, "macs_saved": 100.0 * (1 - macs / count / dense),
            "removed": 100.0 * (1 - rows_pruned / count / len(pruned_blocks) / (1 + n)),
            "cycles": cycles / count}


def refit(base: DigitsViT, x: torch.Tensor, ratio: float, seed: int) -> DigitsViT:
    """The backbone of ``base`` with both selectors refitted (stage 2a) to keep ``ratio`` per selector."""
    model = copy.deepcopy(base)
    torch.manual_seed(seed)
    for b in model.cfg.selector_blocks:
        model.selectors[str(b)] = TokenSelector(model.cfg.dim, model.cfg.heads)
    warm_start_selectors(model, x, [ratio] * len(model.cfg.selector_blocks), TrainConfig(seed=seed))
    return model.eval()


def main() -> int:
    start = time.perf_counter()
    make_deterministic(0)
    data = load_digits_split(0)
    xtr, xte, yte = torch.from_numpy(data.x_train), torch.from_numpy(data.x_test), torch.from_numpy(data.y_test)
    base = load_vit(ROOT / "examples" / "vit_digits.npz")
    cfg = base.cfg
    full = evaluate(base, xte, yte, use_selectors=False).accuracy
    rows = []
    for label, model in [("committed", base), *((f"{r:.1f}", refit(base, xtr, r, 0)) for r in RATIOS)]:
        fl = evaluate(model, xte, yte, use_selectors=True)
        selectors = calibrate_int_selectors(model, xtr[:256])
        rows.append((label, fl, int8_run(model, selectors, xte, yte)))
    seconds = time.perf_counter() - start

    blocks = ", ".join(str(b) for b in cfg.selector_blocks)
    lines = [
        "## Token pruning: keep ratio vs accuracy vs MACs (digits ViT)",
        "",
        f"Measured {datetime.date.today().isoformat()} by `bench/token_pruning.py` in {seconds:.0f} s (1 thread): "
        f"`examples/vit_digits.npz` backbone (dim {cfg.dim}, {cfg.heads} heads, {cfg.depth} blocks, selectors before "
        f"blocks {blocks}), digits test split (360 images). Each row refits both selectors from one fixed "
        "initialisation with stage 2a of the recipe (backbone frozen; per-selector keep ratio r, targets r and r² "
        "of the 16 patch tokens); *committed* is the shipped model (trained at 0.6). int8 = the integer selectors "
        "(`IntSelector`, bit-exact with the RTL and HLS selectors) calibrated on 256 training images, blocks float.",
        "",
        "*removed* = share of the 17 token rows (class, kept, package) gone in the pruned blocks "
        f"({cfg.selector_blocks[0]}–{cfg.depth - 1}), int8 path; *MACs saved* = all block MACs (linear + QKᵀ + AV) "
        "at the real row counts, int8 path; *selector cycles* = both hardware selectors per image from the cycle "
        "model (`hwprune.tokens.cycles`) at the measured token counts.",
        "",
        "| keep ratio r | float top-1 | int8 top-1 | Δ int8 vs unpruned | patch tokens alive (float) | removed | "
        "MACs saved | selector cycles |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
        f"| unpruned (selectors off) | {full:.2f}% | — | — | 1.000, 1.000 | 0.0% | 0.0% | 0 |",
    ]
    best = None
    for label, fl, q in rows:
        delta = round(q["acc"] - full, 2) + 0.0  # no "-0.00"
        lines.append(f"| {label} | {fl.accuracy:.2f}% | {q['acc']:.2f}% | {delta:+.2f} | "
                     f"{', '.join(f'{k:.3f}' for k in fl.keep_ratios)} | {q['removed']:.1f}% | "
                     f"{q['macs_saved']:.1f}% | {q['cycles']:.0f} |")
        if q["removed"] >= TARGET_REMOVED and delta >= -TARGET_DROP and (best is None or q["removed"] > best[1]):
            best = (label, q["removed"], delta)
    lines.append("")
    lines.append("One test image is 0.28 points, and each row is one refit (one seed), so neighbouring rows are "
                 "within noise of each other; the trend, not a single row, is the result.")
    lines.append("")
    if best:
        lines.append(f"Target (≥ {TARGET_REMOVED:.0f}% of tokens removed in the pruned blocks within "
                     f"{TARGET_DROP:.0f} point of the unpruned accuracy, int8 selectors): **reached**, most removed at "
                     f"r = {best[0]}: {best[1]:.1f}% removed, {best[2]:+.2f} points.")
    else:
        lines.append(f"Target (≥ {TARGET_REMOVED:.0f}% removed within {TARGET_DROP:.0f} point, int8 selectors): "
                     "**not reached** by any row above.")
    publish("token_pruning", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
