"""The token selector's row in ``report.json``: its size, MACs and cycles per set.

``register()`` is the token feature's plug-in of stage ``report`` (``hwprune.plugins``): it adds
``selector_summary`` to ``hwprune.report.summary.NODE_SUMMARIES`` under the key ``selector``.
"""

from __future__ import annotations

from typing import Any

from hwprune.ir.graph import Node
from hwprune.report.summary import NODE_SUMMARIES
from hwprune.tokens.cycles import selector_cycles
from hwprune.tokens.hardware import SelectorHardware
from hwprune.tokens.ir_node import ATTR, int_selector_of

__all__ = ["selector_summary", "register"]


def selector_summary(node: Node) -> dict[str, Any]:
    """A quantized selector's row facts for ``report.json``: size, MACs of one set and the cycle model's
    cycles per set at the most tokens, all candidates kept or all fused (``hwprune.tokens.cycles``, default
    parallelism; inputs offered from cycle 0)."""
    hw = SelectorHardware.of(int_selector_of(node), int(node.attrs["max_tokens"]), "selector")
    tokens = hw.max_tokens
    per_head = {"local": tokens - 1, "score1": tokens - 1, "score2": tokens - 1, "score3": tokens - 1,
                "head1": 1, "head2": 1}  # vectors per head through each Linear
    macs = sum(hw.kernels[name].useful_macs * hw.heads * count for name, count in per_head.items())
    return {"dim": hw.dim, "heads": hw.heads, "max_tokens": tokens, "macs_per_set": macs,
            "cycles_all_kept": selector_cycles(hw, tokens, tokens - 1),
            "cycles_all_fused": selector_cycles(hw, tokens, 0)}


def _quantized_summary(node: Node) -> dict[str, Any] | None:
    """Only a quantized selector has hardware to summarise."""
    return selector_summary(node) if ATTR in node.attrs else None


def register() -> None:
    """Plug-in of stage ``report``: the selector's row facts (idempotent)."""
    NODE_SUMMARIES.setdefault("TokenSelector", ("selector", _quantized_summary))
