"""Train the digits ViT with two HeatViT token selectors and export it.

Outputs (in --out):
  vit_digits.npz   float32 weights + ViTConfig (hwprune.tokens.artefacts.load_vit reads it)
  vit_digits.onnx  the ViT (batch 1) with each selector as a custom node hwprune.TokenSelector

Recipe (hwprune.tokens.training): stage 1 the ViT alone; stage 2a each selector fitted alone to the
unpruned model's class-attention top-k tokens (keep ratio --keep per selector); stage 2b (off by
default, --joint-epochs N) the joint Gumbel-mask fine-tune. Deterministic: one thread, fixed seeds,
byte-identical files on rerun (on the same torch build).

    python examples/train_vit_digits.py --out examples --seed 0
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

try:
    from hwprune.datasets import load_digits_split
except ImportError:  # a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from hwprune.datasets import load_digits_split

from hwprune.tokens.artefacts import save_vit
from hwprune.tokens.export import export_vit_onnx
from hwprune.tokens.training import (
    TrainConfig, evaluate, make_deterministic, train_base, train_selectors, warm_start_selectors,
)
from hwprune.tokens.vit import DigitsViT, ViTConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=float, default=0.6, help="keep ratio of each selector (of its input)")
    parser.add_argument("--base-epochs", type=int, default=TrainConfig.base_epochs)
    parser.add_argument("--joint-epochs", type=int, default=TrainConfig.selector_epochs)
    args = parser.parse_args(argv)

    make_deterministic(args.seed)
    cfg = TrainConfig(seed=args.seed, base_epochs=args.base_epochs, selector_epochs=args.joint_epochs)
    data = load_digits_split(args.seed)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    xt, yt = torch.from_numpy(data.x_test), torch.from_numpy(data.y_test)
    ratios = [args.keep] * len(ViTConfig().selector_blocks)

    start = time.perf_counter()
    model = DigitsViT(ViTConfig())
    train_base(model, x, y, cfg)
    base = evaluate(model, xt, yt, use_selectors=False)
    warm_start_selectors(model, x, ratios, cfg)
    if cfg.selector_epochs:
        train_selectors(model, x, y, ratios, cfg)
    pruned = evaluate(model, xt, yt, use_selectors=True)
    unpruned = evaluate(model, xt, yt, use_selectors=False)
    seconds = time.perf_counter() - start

    model.use_selectors = True
    args.out.mkdir(parents=True, exist_ok=True)
    save_vit(model, args.out / "vit_digits.npz")
    export_vit_onnx(model, args.out / "vit_digits.onnx")
    print(f"trained in {seconds:.1f} s (1 thread)")
    print(f"test top-1 without selectors (stage 1):  {base.accuracy:.2f}%")
    print(f"test top-1 with selectors:               {pruned.accuracy:.2f}%")
    print(f"test top-1 same weights, selectors off:  {unpruned.accuracy:.2f}%")
    print("patch tokens alive after each selector:  " + ", ".join(f"{r:.3f}" for r in pruned.keep_ratios)
          + f"  (targets {', '.join(f'{t:.3f}' for t in [args.keep ** (i + 1) for i in range(len(ratios))])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
