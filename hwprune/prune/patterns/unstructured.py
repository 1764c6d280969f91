"""``unstructured``: per-layer magnitude pruning, the baseline every benchmark compares against.

Keeps exactly ``round_half_up((1 - s) · numel)`` weights with the largest |w| (ties: lower flat
index first). No balanced layout: rows keep different counts, so the sparse MAC array cannot run it
without idle cycles; metadata is a full column index per kept weight (CSR), ``ceil(log2 K)`` bits.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from hwprune.prune.patterns.base import (
    GroupLayout,
    Pattern,
    PatternError,
    kept_count,
    mask_matrix_shape,
    register_pattern,
    topk_mask,
)

__all__ = ["UnstructuredPattern"]


@register_pattern
class UnstructuredPattern(Pattern):
    """Top-|w| over the whole layer (one layer at a time)."""

    name = "unstructured"

    def mask(self, weight: torch.Tensor, sparsity: float, *, seed: int = 0) -> torch.Tensor:
        flat = weight.detach().abs().reshape(-1).to(torch.float64)
        keep = kept_count(flat.numel(), sparsity, minimum=1)
        return topk_mask(flat, keep).reshape(weight.shape)

    def check(self, mask: np.ndarray) -> None:
        mask = np.asarray(mask)
        if mask.ndim < 2:
            raise PatternError(f"unstructured: a weight mask has at least 2 axes, not shape {list(mask.shape)}")

    def layout(self, weight_shape: tuple[int, ...], sparsity: float) -> GroupLayout | None:
        return None

    def metadata_bits_per_kept_weight(self, weight_shape: tuple[int, ...], sparsity: float) -> float:
        _, k_in = mask_matrix_shape(weight_shape)
        return float(max(1, math.ceil(math.log2(k_in))))
