"""The contract every sparsity pattern fulfils, and the packing shared by the balanced ones.

A pattern is four things kept together (docs/architecture.md section 4): a mask function, a packer, a
hardware mapping and a cycle formula. The balanced patterns (N:M, bank-balanced, balanced
stochastic, balanced block-punched, and dense as "keep all") share one hardware mapping: the input
axis of the weight matrix is cut into contiguous *groups*; every row keeps exactly ``k`` weights in
every group; a lane's MAC units each read one group. That common shape is ``GroupLayout``, and one
packer (``pack_balanced``) serves them all, so the RTL and HLS engines are written once.

Weight matrices are seen as ``[rows, K]``: Dense ``[out, in]``; Conv ``[F, C/g·kh·kw]`` flattened in
(channel, kh, kw) order, as NVIDIA's 2:4 does.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from hwprune.errors import HwpruneError
from hwprune.ir.types import SparsityPattern

__all__ = [
    "PatternError",
    "GroupLayout",
    "PackedWeights",
    "pack_balanced",
    "as_matrix",
    "Pattern",
    "PATTERNS",
    "register_pattern",
    "get_pattern",
]


class PatternError(HwpruneError):
    """A mask breaks its pattern's invariant, or a pattern cannot apply to a layer's shape."""


def as_matrix(weight: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """View a Dense ``[out, in]`` or Conv ``[F, C, kh, kw]`` weight as ``[rows, K]``."""
    return weight.reshape(weight.shape[0], -1)


@dataclass(frozen=True)
class GroupLayout:
    """How the K inputs of every row split into groups that MAC units read in parallel.

    Group ``g`` holds inputs ``[g·S, (g+1)·S)``; when ``S`` does not divide ``K`` the last group is
    padded with zero inputs. Short-group rule (docs/patterns.md): a mask never keeps a padded position,
    so a last group of ``r < k`` real inputs keeps all ``r``; the packer fills its other ``k - r`` MAC
    slots with padded positions (weight 0, input 0), so every group still costs ``k`` MAC cycles and
    the engines and their cycle model see the same layout as for any other group.
    """

    in_features: int
    group_size: int
    kept_per_group: int

    def __post_init__(self) -> None:
        for name in ("in_features", "group_size", "kept_per_group"):
            positive_int(name, getattr(self, name))
        if self.kept_per_group > self.group_size:
            raise PatternError(f"kept_per_group {self.kept_per_group} exceeds group_size {self.group_size}")

    @property
    def groups(self) -> int:
        return math.ceil(self.in_features / self.group_size)

    def real_kept(self) -> np.ndarray:
        """Real (unpadded) weights each group keeps: ``min(k, real inputs of the group)``."""
        real = np.minimum(self.group_size, self.in_features - np.arange(self.groups) * self.group_size)
        return np.minimum(real, self.kept_per_group)

    @property
    def real_kept_per_row(self) -> int:
        """Kept weights of one row that are stored and multiply a real input (the density's numerator)."""
        return int(self.real_kept().sum())

    @property
    def padded_features(self) -> int:
        return self.groups * self.group_size

    @property
    def kept_per_row(self) -> int:
        return self.groups * self.kept_per_group

    @property
    def is_dense(self) -> bool:
        return self.kept_per_group == self.group_size and self.padded_features == self.in_features

    @property
    def offset_bits(self) -> int:
        """Bits of one within-group position; 0 when every position is kept (dense)."""
        if self.kept_per_group == self.group_size:
            return 0
        return max(1, math.ceil(math.log2(self.group_size)))

    def to_dict(self) -> dict[str, int]:
        return {"in_features": self.in_features, "group_size": self.group_size, "kept_per_group": self.kept_per_group}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "GroupLayout":
        return GroupLayout(int(data["in_features"]), int(data["group_size"]), int(data["kept_per_group"]))


@dataclass(frozen=True)
class PackedWeights:
    """Kept weights of a balanced layer: ``values[r, g, j]`` sits at input ``g·S + offsets[r, g, j]``.

    Within a group the kept positions are in increasing order, so packing is canonical.
    """

    layout: GroupLayout
    values: np.ndarray
    offsets: np.ndarray

    @property
    def rows(self) -> int:
        return int(self.values.shape[0])

    def unpack(self) -> tuple[np.ndarray, np.ndarray]:
        """(dense weight [rows, K], bool mask [rows, K]) — the inverse of ``pack_balanced``."""
        layout = self.layout
        dense = np.zeros((self.rows, layout.padded_features), dtype=self.values.dtype)
        mask = np.zeros((self.rows, layout.padded_features), dtype=bool)
        columns = np.arange(layout.groups).reshape(1, -1, 1) * layout.group_size + self.offsets
        rows = np.arange(self.rows).reshape(-1, 1, 1)
        dense[rows, columns] = self.values
        mask[rows, columns] = True
        return dense[:, : layout.in_features], mask[:, : layout.in_features]

    def metadata_bits(self) -> int:
        """Total index bits stored beside the values."""
        return int(self.values.size) * self.layout.offset_bits


def pack_balanced(weight: np.ndarray, mask: np.ndarray, layout: GroupLayout) -> PackedWeights:
    """Pack a ``[rows, K]`` weight whose mask keeps exactly ``k`` per group; ``PatternError`` if not."""
    weight, mask = np.asarray(weight), np.asarray(mask, dtype=bool)
    if weight.shape != mask.shape or weight.ndim != 2 or weight.shape[1] != layout.in_features:
        raise PatternError(f"weight {list(weight.shape)} / mask {list(mask.shape)} do not fit {layout}")
    pad = layout.padded_features - layout.in_features
    w = np.pad(weight, ((0, 0), (0, pad))).reshape(weight.shape[0], layout.groups, layout.group_size)
    m = np.pad(mask, ((0, 0), (0, pad))).reshape(weight.shape[0], layout.groups, layout.group_size)
    counts, need = m.sum(axis=2), layout.real_kept()
    bad = np.argwhere(counts != need[None, :])
    if bad.size:
        row, group = (int(v) for v in bad[0])
        raise PatternError(
            f"row {row}, group {group} keeps {int(counts[row, group])} weights, the layout needs "
            f"{int(need[group])} ({layout.kept_per_group} per group, all real inputs of a short last group; "
            f"{len(bad)} groups differ)"
        )
    short = layout.kept_per_group - int(need[-1])
    if short:  # short-group rule: the last group's free MAC slots take its first padded positions
        m[:, -1, int(need[-1]) : layout.kept_per_group] = True
    # stable argsort of ~mask puts kept positions first, in increasing position order
    order = np.argsort(~m, axis=2, kind="stable")[:, :, : layout.kept_per_group]
    values = np.take_along_axis(w, order, axis=2)
    return PackedWeights(layout, values, order.astype(np.int64))


class Pattern(ABC):
    """One sparsity pattern: mask, invariant, hardware layout and metadata cost.

    Subclasses set ``name`` and are registered with ``@register_pattern``; their constructor
    takes the pattern's parameters (validated at once, with exact messages).
    """

    name: ClassVar[str]

    @abstractmethod
    def mask(self, weight: torch.Tensor, sparsity: float, *, seed: int = 0) -> torch.Tensor:
        """Bool mask (True = kept) of ``weight``'s shape reaching ``sparsity`` under the pattern."""

    @abstractmethod
    def check(self, mask: np.ndarray) -> None:
        """Raise ``PatternError`` unless ``mask`` satisfies the pattern's invariant exactly."""

    @abstractmethod
    def layout(self, weight_shape: tuple[int, ...], sparsity: float) -> GroupLayout | None:
        """The balanced group layout the hardware uses, or None (unstructured, channel)."""

    @abstractmethod
    def metadata_bits_per_kept_weight(self, weight_shape: tuple[int, ...], sparsity: float) -> float:
        """Index bits stored per kept weight (RAMAN-style storage accounting)."""

    def params(self) -> dict[str, int | float | str]:
        """The constructor parameters, for the IR annotation."""
        return {}

    def to_ir(self, density: float) -> SparsityPattern:
        return SparsityPattern(self.name, float(density), tuple(sorted(self.params().items())))


PATTERNS: dict[str, type[Pattern]] = {}


def register_pattern(cls: type[Pattern]) -> type[Pattern]:
    PATTERNS[cls.name] = cls
    return cls


def get_pattern(name: str, **params: Any) -> Pattern:
    """Instantiate a registered pattern; the error lists the known names."""
    import hwprune.prune.patterns  # noqa: F401  (registers the built-in patterns)

    try:
        cls = PATTERNS[name]
    except KeyError:
        raise PatternError(f"unknown pattern {name!r}; known patterns: {', '.join(sorted(PATTERNS))}") from None
    return cls(**params)


# --------------------------------------------------------------------------------------------------
# Helpers shared by the concrete patterns (added with them; the contract above is unchanged).
# --------------------------------------------------------------------------------------------------

__all__ += [
    "check_sparsity",
    "kept_count",
    "topk_mask",
    "mask_matrix_shape",
    "BalancedPattern",
    "StorageReport",
    "storage_report",
]


def positive_int(name: str, value: object) -> int:
    """``value`` if it is an int >= 1 (not a bool), else a PatternError naming the parameter."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise PatternError(f"{name} must be a positive integer, not {value!r}")
    return value


def check_sparsity(sparsity: float) -> float:
    """Validate a target sparsity (fraction of weights removed) and return it as a float."""
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0.0 <= float(sparsity) < 1.0:
        raise PatternError(f"sparsity must be a number in [0, 1), not {sparsity!r}")
    return float(sparsity)


def kept_count(total: int, sparsity: float, minimum: int = 1) -> int:
    """How many of ``total`` weights a target sparsity keeps: round half up, at least ``minimum``.

    Half-up rounding (not Python's banker's rounding) so the rule is the same in every language
    the hardware engineers re-implement it in.
    """
    keep = math.floor((1.0 - check_sparsity(sparsity)) * total + 0.5)
    return int(min(total, max(minimum, keep)))


def topk_mask(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Bool mask keeping exactly ``k`` entries of the last axis with the largest scores.

    Ties are broken deterministically: among equal scores the lower index wins (a stable sort).
    """
    if k >= scores.shape[-1]:
        return torch.ones_like(scores, dtype=torch.bool)
    order = torch.sort(scores, dim=-1, descending=True, stable=True).indices[..., :k]
    mask = torch.zeros_like(scores, dtype=torch.bool)
    return mask.scatter_(-1, order, True)


def mask_matrix_shape(weight_shape: tuple[int, ...]) -> tuple[int, int]:
    """``[rows, K]`` of a Dense ``[out, in]`` or Conv ``[F, C, kh, kw]`` weight shape."""
    if len(weight_shape) < 2:
        raise PatternError(f"a prunable weight has at least 2 axes, not shape {list(weight_shape)}")
    return int(weight_shape[0]), int(math.prod(weight_shape[1:]))


def _padded_groups(matrix: torch.Tensor, layout: GroupLayout, fill: float) -> torch.Tensor:
    pad = layout.padded_features - layout.in_features
    if pad:
        matrix = torch.nn.functional.pad(matrix, (0, pad), value=fill)
    return matrix.reshape(matrix.shape[0], layout.groups, layout.group_size)


class BalancedPattern(Pattern):
    """A pattern whose mask keeps exactly ``kept_per_group`` weights in every group of every row.

    Subclasses say how big a group is (``group_size_for``) and how the kept weights of a group are
    scored (``group_scores``); the mask, check, layout, metadata and IR annotation are shared, so
    every balanced pattern hands the lowering the same ``group_size``/``kept_per_group`` params.
    """

    @abstractmethod
    def group_size_for(self, weight_shape: tuple[int, ...]) -> int:
        """Inputs per group for a weight of this shape."""

    def group_scores(self, groups: torch.Tensor, seed: int) -> torch.Tensor:
        """Scores of ``groups`` [rows, G, S] (|w| values); the top ``kept_per_group`` are kept."""
        return groups

    def layout(self, weight_shape: tuple[int, ...], sparsity: float) -> GroupLayout:
        """``GroupLayout(K, S, k)``; a layer narrower than one group (K < S) is one padded group whose
        ``k`` is at most K, so no MAC slot is spent on padding that a smaller ``k`` would not need."""
        _, k_in = mask_matrix_shape(weight_shape)
        size = self.group_size_for(weight_shape)
        exact = (1.0 - check_sparsity(sparsity)) * size
        if exact < 0.5:
            raise PatternError(
                f"{self.name} with groups of {size} cannot reach sparsity {sparsity:g}: at most "
                f"{1 - 1 / size:.4g} (1 of {size} kept); use larger groups"
            )
        return GroupLayout(k_in, size, min(kept_count(size, sparsity), k_in))

    def mask(self, weight: torch.Tensor, sparsity: float, *, seed: int = 0) -> torch.Tensor:
        layout = self.layout(tuple(weight.shape), sparsity)
        matrix = as_matrix(weight.detach()).abs().to(torch.float64)
        groups = _padded_groups(matrix, layout, fill=0.0)
        scores = self.group_scores(groups, seed)
        # padded positions are never kept: push them below every real score
        real = _padded_groups(torch.ones_like(matrix, dtype=torch.bool), layout, fill=0.0).bool()
        scores = torch.where(real, scores, torch.full_like(scores, -math.inf))
        kept = topk_mask(scores, layout.kept_per_group) & real
        return kept.reshape(matrix.shape[0], -1)[:, : layout.in_features].reshape(weight.shape)

    def check(self, mask: np.ndarray) -> None:
        """Every group of every row keeps the same count k >= 1; a short last group of r < k real
        inputs keeps all r (the short-group rule of ``GroupLayout``)."""
        matrix = np.asarray(as_matrix(np.asarray(mask, dtype=bool)))
        shape = tuple(np.asarray(mask).shape)
        size = self.group_size_for(shape)
        groups = math.ceil(matrix.shape[1] / size)
        padded = np.pad(matrix, ((0, 0), (0, groups * size - matrix.shape[1])))
        counts = padded.reshape(matrix.shape[0], groups, size).sum(axis=2)
        target = int(counts.flat[0]) if counts.size else 0
        need = GroupLayout(matrix.shape[1], size, target).real_kept() if 1 <= target <= size else None
        bad = np.argwhere(counts != need[None, :]) if need is not None else np.zeros((1, 2), dtype=int)
        if bad.size:
            row, group = (int(v) for v in bad[0])
            raise PatternError(
                f"{self.name}: row {row}, group {group} keeps {int(counts[row, group])} of {size}, "
                f"every group must keep the same count >= 1 (row 0, group 0 keeps {target}; a short last "
                "group keeps all its real inputs when it has fewer)"
            )

    def metadata_bits_per_kept_weight(self, weight_shape: tuple[int, ...], sparsity: float) -> float:
        return float(self.layout(weight_shape, sparsity).offset_bits)

    def to_ir(self, density: float, weight_shape: tuple[int, ...] | None = None) -> SparsityPattern:
        """The IR annotation; balanced layouts need the weight shape for ``group_size``/``kept_per_group``."""
        params: dict[str, int | float | str] = dict(self.params())
        if weight_shape is None:
            raise PatternError(f"{self.name}.to_ir needs the weight shape to record its group layout")
        _, k_in = mask_matrix_shape(weight_shape)
        size = self.group_size_for(weight_shape)
        # density = real kept / K (padding excluded); the smallest k whose layout keeps that many
        options = [GroupLayout(k_in, size, k) for k in range(1, min(size, k_in) + 1)]
        layout = min(options, key=lambda o: (abs(o.real_kept_per_row - float(density) * k_in), o.kept_per_group))
        params.update(group_size=layout.group_size, kept_per_group=layout.kept_per_group)
        return SparsityPattern(self.name, float(density), tuple(sorted(params.items())))


@dataclass(frozen=True)
class StorageReport:
    """Weight storage of one layer under a pattern: values + metadata against the dense layer."""

    weights: int
    kept: int
    value_bits: int
    metadata_bits: int

    @property
    def metadata_bits_per_kept_weight(self) -> float:
        return self.metadata_bits / self.kept if self.kept else 0.0

    @property
    def total_bits(self) -> int:
        return self.kept * self.value_bits + self.metadata_bits

    @property
    def dense_bits(self) -> int:
        return self.weights * self.value_bits

    @property
    def ratio_vs_dense(self) -> float:
        """total / dense: 0.3 means the pruned layer needs 30% of the dense storage."""
        return self.total_bits / self.dense_bits if self.dense_bits else 0.0

    def __add__(self, other: "StorageReport") -> "StorageReport":
        bits = self.value_bits if self.weights else other.value_bits
        return StorageReport(self.weights + other.weights, self.kept + other.kept, bits,
                             self.metadata_bits + other.metadata_bits)


def storage_report(pattern: Pattern, weight_shape: tuple[int, ...], kept: int, sparsity: float,
                   value_bits: int = 8) -> StorageReport:
    """Storage of a layer keeping ``kept`` weights; metadata from the pattern's own accounting."""
    meta = pattern.metadata_bits_per_kept_weight(tuple(weight_shape), sparsity)
    return StorageReport(int(math.prod(weight_shape)), int(kept), int(value_bits), int(round(meta * kept)))
