"""The JSON form of an integer selector (``IntSelector``): every integer and scale, exactly.

Why: the quantized TokenSelector IR node carries its selector as this JSON (attribute ``int_selector``),
the one copy that the integer reference, the RTL and the HLS writer read back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwprune.tokens.fixed_point import ExpInt, GeluInt, SigmoidInt, SoftmaxInt
from hwprune.tokens.reference import IntGelu, IntLinear, IntSelector

__all__ = ["int_selector_to_dict", "int_selector_from_dict"]


def _linear_to_dict(layer: IntLinear) -> dict[str, Any]:
    return {"weight": np.asarray(layer.weight).astype(np.int64).tolist(),
            "bias": [int(v) for v in layer.bias], "mult": [int(v) for v in layer.mult],
            "shift": [int(v) for v in layer.shift], "out_scale": float(layer.out_scale)}


def _linear_from_dict(d: dict[str, Any]) -> IntLinear:
    return IntLinear(np.asarray(d["weight"], dtype=np.int64), np.asarray(d["bias"], dtype=np.int64),
                     np.asarray(d["mult"], dtype=np.int64), np.asarray(d["shift"], dtype=np.int64),
                     float(d["out_scale"]))


def _gelu_to_dict(g: IntGelu) -> dict[str, Any]:
    return {"in_scale": g.gelu.in_scale, "q_b": g.gelu.q_b, "q_c": g.gelu.q_c, "mult": g.mult, "shift": g.shift,
            "out_scale": g.out_scale}


def _gelu_from_dict(d: dict[str, Any]) -> IntGelu:
    return IntGelu(GeluInt(float(d["in_scale"]), int(d["q_b"]), int(d["q_c"])), int(d["mult"]), int(d["shift"]),
                   float(d["out_scale"]))


_LINEAR_FIELDS = ("local", "score1", "score2", "score3", "head1", "head2")
_GELU_FIELDS = ("local_gelu", "gelu1", "gelu2", "head_gelu")


def int_selector_to_dict(sel: IntSelector) -> dict[str, Any]:
    """JSON-able form of every integer (and scale) of ``sel``; ``int_selector_from_dict`` inverts it."""
    e = sel.softmax.exp
    return {
        "heads": sel.heads, "head_dim": sel.head_dim, "in_scale": sel.in_scale,
        **{name: _linear_to_dict(getattr(sel, name)) for name in _LINEAR_FIELDS},
        **{name: _gelu_to_dict(getattr(sel, name)) for name in _GELU_FIELDS},
        "softmax": {"in_scale": e.in_scale, "q_ln2": e.q_ln2, "q_b": e.q_b, "q_c": e.q_c,
                    "frac_bits": sel.softmax.frac_bits, "recip_bits": sel.softmax.recip_bits},
        "sigmoid": {"in_scale": sel.sigmoid.in_scale, "frac_bits": sel.sigmoid.frac_bits,
                    "mult": sel.sigmoid.mult, "shift": sel.sigmoid.shift},
    }


def int_selector_from_dict(d: dict[str, Any]) -> IntSelector:
    s, g = d["softmax"], d["sigmoid"]
    softmax = SoftmaxInt(ExpInt(float(s["in_scale"]), int(s["q_ln2"]), int(s["q_b"]), int(s["q_c"])),
                         int(s["frac_bits"]), int(s["recip_bits"]))
    sigmoid = SigmoidInt(float(g["in_scale"]), int(g["frac_bits"]), int(g["mult"]), int(g["shift"]))
    return IntSelector(
        heads=int(d["heads"]), head_dim=int(d["head_dim"]), in_scale=float(d["in_scale"]),
        **{name: _linear_from_dict(d[name]) for name in _LINEAR_FIELDS},
        **{name: _gelu_from_dict(d[name]) for name in _GELU_FIELDS},
        softmax=softmax, sigmoid=sigmoid,
    )
