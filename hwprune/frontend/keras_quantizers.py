"""QKeras quantizers → the (bits, signed, narrow, step) of a QONNX ``Quant`` node.

Only quantizers whose forward value is ``step * clip(round_half_even(x / step), lo, hi)`` map: that is
exactly a QONNX ``Quant`` with ``rounding_mode=ROUND``. For weights the quantizer is *run* on the
tensor and its output checked to lie on the integer grid, so what hwprune holds is what QKeras
computes (including data-dependent ``alpha="auto_po2"`` scales), never a re-derivation of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hwprune.errors import UnsupportedOpError

__all__ = ["QuantSpec", "activation_spec", "quantize_constant"]


@dataclass(frozen=True)
class QuantSpec:
    """One QONNX ``Quant``: integers of bits/signed/narrow times ``step`` (scalar or per-channel)."""

    bits: int
    signed: bool
    narrow: bool
    step: np.ndarray
    relu: bool = False
    """quantized_relu: a ``Relu`` goes before the ``Quant`` (as Brevitas exports QuantReLU)."""

    @property
    def int_range(self) -> tuple[int, int]:
        if self.signed:
            return -(1 << (self.bits - 1)) + int(self.narrow), (1 << (self.bits - 1)) - 1
        return 0, (1 << self.bits) - 1


def _name(quantizer: Any) -> str:
    return type(quantizer).__name__


def _plain(value: Any) -> Any:
    """A Python number from a number or a 0-d TensorFlow variable/tensor."""
    return value.numpy() if hasattr(value, "numpy") else value


def _common_checks(quantizer: Any, where: tuple[str, str]) -> None:
    node, op = where
    if getattr(quantizer, "use_stochastic_rounding", False):
        raise UnsupportedOpError(f"{quantizer} uses stochastic rounding, which has no integer form",
                                 node=node, op=op)
    if float(_plain(getattr(quantizer, "qnoise_factor", 1.0))) != 1.0:
        raise UnsupportedOpError(f"{quantizer} has qnoise_factor != 1 "
                                 "(only fully quantized forward passes map)", node=node, op=op)


def _bits_spec(quantizer: Any, where: tuple[str, str], scale: Any) -> QuantSpec:
    """quantized_bits: step = scale * 2**integer / 2**(bits - keep_negative)."""
    node, op = where
    bits, integer = int(quantizer.bits), int(np.asarray(_plain(quantizer.integer)).reshape(-1)[0])
    keep_negative = bool(quantizer.keep_negative)
    unsigned_bits = bits - int(keep_negative)
    if unsigned_bits <= 0:
        raise UnsupportedOpError(f"{quantizer} is a binary quantizer (1 bit), which is not supported",
                                 node=node, op=op)
    if not 2 <= bits <= 32:
        raise UnsupportedOpError(f"{quantizer}: bit width {bits} is outside 2..32", node=node, op=op)
    step = np.asarray(scale, dtype=np.float64) * 2.0**integer / 2.0**unsigned_bits
    return QuantSpec(bits, keep_negative, keep_negative and bool(quantizer.symmetric), step)


def activation_spec(quantizer: Any, where: tuple[str, str]) -> QuantSpec:
    """The Quant of a ``QActivation`` (or a layer's quantizer ``activation``); fixed scales only."""
    node, op = where
    _common_checks(quantizer, where)
    name = _name(quantizer)
    if name == "quantized_bits":
        alpha = quantizer.alpha
        if isinstance(alpha, str) or np.asarray(_plain(alpha) if alpha is not None else 1.0).size != 1:
            raise UnsupportedOpError(f"{quantizer}: a data-dependent alpha ({alpha!r}) has no fixed "
                                     "activation scale; use alpha=1 (or None) on activations",
                                     node=node, op=op)
        return _bits_spec(quantizer, where, 1.0 if alpha is None else float(_plain(alpha)))
    if name == "quantized_relu":
        if quantizer.use_sigmoid or float(quantizer.negative_slope) != 0.0:
            raise UnsupportedOpError(f"{quantizer}: use_sigmoid and negative_slope are not supported",
                                     node=node, op=op)
        bits, integer = int(quantizer.bits), int(np.asarray(_plain(quantizer.integer)).reshape(-1)[0])
        top = 2.0**integer - 2.0 ** (integer - bits)
        bound = quantizer.relu_upper_bound
        if bound is not None and not quantizer.is_quantized_clip and float(bound) < top:
            raise UnsupportedOpError(f"{quantizer}: relu_upper_bound {bound} below the quantizer's range "
                                     "is not supported", node=node, op=op)
        if not 1 <= bits <= 32:
            raise UnsupportedOpError(f"{quantizer}: bit width {bits} is outside 1..32", node=node, op=op)
        return QuantSpec(bits, False, False, np.asarray(2.0 ** (integer - bits)), relu=True)
    raise UnsupportedOpError(f"activation quantizer {name} is not supported; supported: quantized_bits, "
                             "quantized_relu", node=node, op=op)


def quantize_constant(quantizer: Any, value: np.ndarray, channel_axis: int | None,
                      where: tuple[str, str]) -> tuple[np.ndarray, QuantSpec]:
    """Run a weight/bias quantizer as QKeras does; returns (the quantized float values, their Quant).

    ``channel_axis`` is the output-channel axis of ``value`` (Keras layout), along which a
    per-channel ``alpha`` scale may vary; the step comes back broadcastable to ``value``.
    """
    import tensorflow as tf

    node, op = where
    _common_checks(quantizer, where)
    if _name(quantizer) != "quantized_bits":
        raise UnsupportedOpError(f"weight quantizer {_name(quantizer)} is not supported; "
                                 "supported: quantized_bits", node=node, op=op)
    quantized = np.asarray(quantizer(tf.constant(value, dtype=tf.float32)).numpy(), dtype=np.float32)
    scale = np.asarray(_plain(quantizer.scale) if quantizer.scale is not None else 1.0, dtype=np.float64)
    if scale.size > 1:
        if channel_axis is None or scale.size != value.shape[channel_axis]:
            raise UnsupportedOpError(f"{quantizer}: its scale of shape {list(scale.shape)} is neither "
                                     "per-tensor nor per output channel", node=node, op=op)
        shape = [1] * value.ndim
        shape[channel_axis] = -1
        scale = scale.reshape(shape)
    spec = _bits_spec(quantizer, where, scale.reshape(()) if scale.size == 1 else scale)
    if np.any(spec.step <= 0) or not np.all(np.isfinite(spec.step)):
        raise UnsupportedOpError(f"{quantizer}: scales must be finite and positive", node=node, op=op)
    integers = quantized.astype(np.float64) / spec.step
    lo, hi = spec.int_range
    if not np.array_equal(integers, np.rint(integers)) or integers.min() < lo or integers.max() > hi:
        raise UnsupportedOpError(f"{quantizer} does not put the values on a {spec.bits}-bit integer grid "
                                 f"(expected integers in [{lo}, {hi}] times the step)", node=node, op=op)
    return quantized, spec
