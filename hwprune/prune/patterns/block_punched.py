"""``block_punched`` (YOLObile, Cai et al. AAAI 2021) for conv weights, plus a balanced variant.

Definition as implemented (YOLObile's, Cai et al., AAAI 2021; differences are marked *hwprune*):

* The weight ``[F, C, kh, kw]`` is cut into blocks of ``filters`` consecutive filters × ``channels``
  consecutive input channels (defaults 8 × 4). A Dense ``[out, in]`` weight is a 1×1 conv.
* The pruning unit is one kernel position (i, j) across the whole block (filters·channels weights).
  Score of a unit = Σ over the block's channels of the L2 norm over its filters:
  ``Σ_c sqrt(Σ_f w[f, c, i, j]²)``.
* ``balanced=False`` (YOLObile): one per-layer cut — the ``round_half_up((1-s)·units)`` best units
  of the layer are kept (ties: lower (block, position) index first). Kept counts differ between
  blocks, so there is no balanced layout (``layout`` is None).
* ``balanced=True`` (*hwprune*): every block keeps the same ``P = round_half_up((1-s)·kh·kw)`` best
  positions. Then each filter keeps exactly P of the kh·kw inputs of *every* input channel, so the
  layout is ``GroupLayout(K, kh·kw, P)`` — one group per input channel. (The coarser
  ``GroupLayout(K, channels·kh·kw, channels·P)`` is also balanced, but only when ``channels`` divides C;
  the per-channel one always is, and needs fewer offset bits.)
* ``balanced=True`` with kh·kw = 1 (Dense, 1×1 conv; *hwprune*): a block has one kernel position, so
  the punched unit is one input channel of the block (its ``filters`` weights): every block keeps the
  same ``P = round_half_up((1-s)·channels)`` best channels (at most C), shared by its filters; layout
  ``GroupLayout(C, channels, P)``, a partial last channel block of ``r < P`` channels keeps all ``r``
  (``GroupLayout``'s short-group rule).
* Partial blocks (*hwprune*; YOLObile skips such layers): when ``filters`` does not divide F or
  ``channels`` does not divide C, the last blocks are smaller and pruned like the others.
* ``score="energy"`` (*hwprune*) ranks units by Σ w² instead (exact Euclidean projection; ADMM's Z-step).
* Metadata: one kh·kw-bit position mask per block, shared by all of the block's kept weights.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from hwprune.prune.patterns.base import (
    GroupLayout,
    Pattern,
    PatternError,
    positive_int,
    check_sparsity,
    kept_count,
    register_pattern,
    topk_mask,
)

__all__ = ["BlockPunchedPattern"]


def _as_fcp(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(filters, channels, kernel positions) of a Conv ``[F, C, kh, kw]`` or Dense ``[out, in]`` shape."""
    if len(shape) == 2:
        return int(shape[0]), int(shape[1]), 1
    if len(shape) == 4:
        return int(shape[0]), int(shape[1]), int(shape[2] * shape[3])
    raise PatternError(f"block_punched: expected a Conv [F, C, kh, kw] or Dense weight, not shape {list(shape)}")


def _bool_arg(value: bool | int | str, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    raise PatternError(f"{name} must be a boolean, not {value!r}")


@register_pattern
class BlockPunchedPattern(Pattern):
    """Same kernel positions removed for all filters and channels of a block."""

    name = "block_punched"

    def __init__(
        self, filters: int = 8, channels: int = 4, balanced: bool | int | str = False, score: str = "l2sum"
    ) -> None:
        if score not in ("l2sum", "energy"):
            raise PatternError(f"score must be 'l2sum' (YOLObile) or 'energy' (sum of squares), not {score!r}")
        self.score = score
        self.filters, self.channels = positive_int("filters", filters), positive_int("channels", channels)
        self.balanced = _bool_arg(balanced, "balanced")

    def params(self) -> dict[str, int | float | str]:
        params: dict[str, int | float | str] = {
            "filters": self.filters, "channels": self.channels, "balanced": int(self.balanced)}
        if self.score != "l2sum":
            params["score"] = self.score
        return params

    # -- geometry --------------------------------------------------------------------------------
    def _blocks(self, shape: tuple[int, ...]) -> tuple[int, int, int, int, int]:
        f, c, p = _as_fcp(shape)
        return f, c, p, math.ceil(f / self.filters), math.ceil(c / self.channels)

    def _to_blocks(self, w: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """``[BF, filters, BC, channels, P]`` view of the weight, zero-padded to whole blocks."""
        f, c, p, bf, bc = self._blocks(shape)
        w = w.reshape(f, c, p)
        w = torch.nn.functional.pad(w, (0, 0, 0, bc * self.channels - c, 0, bf * self.filters - f))
        return w.reshape(bf, self.filters, bc, self.channels, p)

    def unit_scores(self, weight: torch.Tensor) -> torch.Tensor:
        """``[BF, BC, P]``: Σ over channels of the L2 norm over filters, per block and position.

        With ``score="energy"`` it is Σ w² over the unit instead: ranking by it makes the mask the exact
        Euclidean projection onto the pattern's set (what ADMM's Z-step needs).
        """
        blocks = self._to_blocks(weight.detach().to(torch.float64), tuple(weight.shape))
        if self.score == "energy":
            return blocks.pow(2).sum(dim=(1, 3))
        return blocks.pow(2).sum(dim=1).sqrt().sum(dim=2)

    def kept_positions(self, weight_shape: tuple[int, ...], sparsity: float) -> int:
        """Positions every block keeps (balanced variant; channels of the block when kh·kw = 1)."""
        _, c, p, _, _ = self._blocks(tuple(weight_shape))
        units = p if p > 1 else self.channels
        if (1.0 - check_sparsity(sparsity)) * units < 0.5:
            raise PatternError(f"balanced block_punched with {units} positions cannot reach sparsity {sparsity:g}")
        return kept_count(units, sparsity) if p > 1 else min(kept_count(units, sparsity), c)

    def _channel_mask(self, weight: torch.Tensor, sparsity: float) -> torch.Tensor:
        """Balanced mask of a kh·kw = 1 weight: the best P channels of every block, shared by its filters."""
        f, c, _, bf, bc = self._blocks(tuple(weight.shape))
        w = torch.nn.functional.pad(weight.detach().to(torch.float64).reshape(f, c), (0, 0, 0, bf * self.filters - f))
        sq = w.reshape(bf, self.filters, c).pow(2).sum(dim=1)
        scores = sq if self.score == "energy" else sq.sqrt()
        pad = bc * self.channels - c
        scores = torch.nn.functional.pad(scores, (0, pad), value=-math.inf).reshape(bf, bc, self.channels)
        real = torch.nn.functional.pad(torch.ones(bf, c, dtype=torch.bool), (0, pad)).reshape(scores.shape)
        units = (topk_mask(scores, self.kept_positions(tuple(weight.shape), sparsity)) & real).reshape(bf, -1)[:, :c]
        full = units[:, None, :].expand(bf, self.filters, c).reshape(bf * self.filters, c)[:f]
        return full.reshape(weight.shape).contiguous()

    def _check_channels(self, mask: np.ndarray) -> None:
        """The kh·kw = 1 balanced invariant: shared by each block's filters, the same count per block."""
        f, c, _, _, _ = self._blocks(tuple(mask.shape))
        matrix = mask.reshape(f, c)
        for i in range(0, f, self.filters):
            if not (matrix[i : i + self.filters] == matrix[i]).all():
                raise PatternError(f"block_punched: filters {i}.. of a block keep different channels")
        groups = math.ceil(c / self.channels)
        counts = np.pad(matrix, ((0, 0), (0, groups * self.channels - c))).reshape(f, groups, -1).sum(axis=2)
        target = int(counts[0, 0])
        need = GroupLayout(c, self.channels, target).real_kept() if target >= 1 else None
        if need is None or (counts != need[None, :]).any():
            raise PatternError(f"balanced block_punched: blocks keep between {counts.min()} and {counts.max()} "
                               "channels, every block must keep the same count >= 1 (a short last block: all)")

    # -- the contract ----------------------------------------------------------------------------
    def mask(self, weight: torch.Tensor, sparsity: float, *, seed: int = 0) -> torch.Tensor:
        shape = tuple(weight.shape)
        f, c, p, bf, bc = self._blocks(shape)
        if self.balanced and p == 1:
            return self._channel_mask(weight, sparsity)
        scores = self.unit_scores(weight)
        if self.balanced:
            units = topk_mask(scores, self.kept_positions(shape, sparsity))
        else:
            keep = kept_count(scores.numel(), sparsity, minimum=1)
            units = topk_mask(scores.reshape(-1), keep).reshape(scores.shape)
        full = units[:, None, :, None, :].expand(bf, self.filters, bc, self.channels, p)
        full = full.reshape(bf * self.filters, bc * self.channels, p)[:f, :c]
        return full.reshape(shape).contiguous()

    def check(self, mask: np.ndarray) -> None:
        mask = np.asarray(mask, dtype=bool)
        f, c, p, bf, bc = self._blocks(tuple(mask.shape))
        if self.balanced and p == 1:
            return self._check_channels(mask)
        pad = ((0, bf * self.filters - f), (0, bc * self.channels - c), (0, 0))
        m = np.pad(mask.reshape(f, c, p), pad).reshape(bf, self.filters, bc, self.channels, p)
        real = np.pad(np.ones((f, c, p), dtype=bool), pad).reshape(m.shape)
        any_kept = (m & real).any(axis=(1, 3))
        all_kept = (m | ~real).all(axis=(1, 3))
        if not np.array_equal(any_kept, all_kept):
            blk = np.argwhere(any_kept != all_kept)[0]
            raise PatternError(
                f"block_punched: block (filters {blk[0] * self.filters}.., channels {blk[1] * self.channels}..) "
                f"position {blk[2]} is kept for some of its filters/channels but not all"
            )
        if self.balanced:
            counts = any_kept.sum(axis=2)
            if counts.min() < 1 or counts.min() != counts.max():
                raise PatternError(
                    f"balanced block_punched: blocks keep between {counts.min()} and {counts.max()} positions, "
                    "every block must keep the same count >= 1"
                )

    def layout(self, weight_shape: tuple[int, ...], sparsity: float) -> GroupLayout | None:
        if not self.balanced:
            return None
        _, c, p, _, _ = self._blocks(tuple(weight_shape))
        return GroupLayout(c * p, p if p > 1 else self.channels, self.kept_positions(weight_shape, sparsity))

    def metadata_bits_per_kept_weight(self, weight_shape: tuple[int, ...], sparsity: float) -> float:
        f, c, p, bf, bc = self._blocks(tuple(weight_shape))
        if self.balanced:
            layout = self.layout(weight_shape, sparsity)
            assert layout is not None
            kept = f * layout.real_kept_per_row
            if p == 1:
                return bf * bc * self.channels / kept
        else:
            kept = kept_count(bf * bc * p, sparsity, minimum=1) * self.filters * self.channels
            kept = min(kept, f * c * p)
        return bf * bc * p / kept if kept else 0.0

    def to_ir(self, density: float, weight_shape: tuple[int, ...] | None = None):  # type: ignore[override]
        """With ``balanced`` and a shape, the IR annotation carries the per-channel group layout."""
        params: dict[str, int | float | str] = dict(self.params())
        if self.balanced and weight_shape is not None:
            _, c, p, _, _ = self._blocks(tuple(weight_shape))
            size = p if p > 1 else self.channels
            # density = real kept / K; the smallest per-group count whose layout keeps that many
            options = [GroupLayout(c * p, size, k) for k in range(1, min(size, c * p) + 1)]
            best = min(options, key=lambda o: (abs(o.real_kept_per_row - float(density) * c * p), o.kept_per_group))
            params.update(group_size=size, kept_per_group=best.kept_per_group)
        from hwprune.ir.types import SparsityPattern

        return SparsityPattern(self.name, float(density), tuple(sorted(params.items())))
