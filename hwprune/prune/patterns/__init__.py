"""Sparsity patterns: import every pattern module so each registers itself in ``PATTERNS``."""

from __future__ import annotations

from hwprune.prune.patterns import (  # noqa: F401  (imported for registration)
    balanced_stochastic,
    bank_balanced,
    block_punched,
    channel,
    dense,
    nm,
    unstructured,
)
from hwprune.prune.patterns.base import (
    PATTERNS,
    BalancedPattern,
    GroupLayout,
    PackedWeights,
    Pattern,
    PatternError,
    StorageReport,
    as_matrix,
    get_pattern,
    pack_balanced,
    register_pattern,
    storage_report,
)

__all__ = [
    "PATTERNS",
    "BalancedPattern",
    "GroupLayout",
    "PackedWeights",
    "Pattern",
    "PatternError",
    "StorageReport",
    "as_matrix",
    "get_pattern",
    "pack_balanced",
    "register_pattern",
    "storage_report",
]
