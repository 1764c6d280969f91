"""A small token model for the compile tests, exported with ``hwprune.tokens.export``.

tokens [1, 8, 16] → Linear(16, 16) → TokenSelector (2 heads) → Linear(16, 8, no bias) → ReLU. The last
Linear has no bias because ONNX gives the selector's output a symbolic token axis, and the frontend folds
MatMul + Add into a Dense only when both shapes are known (docs/tokens.md, "Compile"). The keep logits
are sharpened so that the calibration tokens give a mix of kept and fused candidates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hwprune.tokens.export import apply_selector, export_token_model
from hwprune.tokens.selector import TokenSelector

TOKENS, DIM, HEADS, OUT = 8, 16, 2, 8
SAMPLES = 64


class TokenMLP(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Linear(DIM, DIM)
        self.selector = TokenSelector(DIM, HEADS)
        self.head = torch.nn.Linear(DIM, OUT, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, _ = apply_selector(self.selector, self.embed(x), torch.zeros(1, dtype=torch.int64))
        return torch.relu(self.head(t))


def write_token_model(directory: Path, seed: int = 0) -> Path:
    """``tokens.onnx`` and ``calibration.npz`` (key ``tokens``, [64, 8, 16]) in ``directory``."""
    torch.manual_seed(seed)
    model = TokenMLP().eval()
    with torch.no_grad():
        model.selector.score3.weight.mul_(8.0)
        model.selector.score3.bias.zero_()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tokens.onnx"
    export_token_model(model, torch.zeros(1, TOKENS, DIM), path, "tokens", "out")
    x = np.random.default_rng(seed).normal(size=(SAMPLES, TOKENS, DIM)).astype(np.float32)
    np.savez(directory / "calibration.npz", tokens=x)
    return path
