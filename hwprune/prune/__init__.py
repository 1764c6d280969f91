"""prune stage (see docs/architecture.md, "Folder map"): hardware-aware sparsity patterns, schedules, ADMM, detection.

    sp = hwprune.prune.Sparsifier(model, pattern="balanced_stochastic", sparsity=0.75, schedule="cubic")
"""

from __future__ import annotations

from hwprune.prune.admm import ADMM, project
from hwprune.prune.detect import annotate_patterns, detect_pattern
from hwprune.prune.patterns import PATTERNS, Pattern, PatternError, get_pattern
from hwprune.prune.schedules import Cubic, OneShot
from hwprune.prune.sparsifier import Sparsifier

__all__ = [
    "ADMM", "Cubic", "OneShot", "PATTERNS", "Pattern", "PatternError", "Sparsifier", "annotate_patterns",
    "detect_pattern", "get_pattern", "project",
]
