"""A loaded Keras/QKeras model → a QONNX ``ModelProto`` (the direct mapping of docs/keras.md).

The qonnx package's own Keras converter (``qonnx.converters``, through tf2onnx) is gone from qonnx
1.0, the version hwprune depends on, and qonnx 0.4's pins (protobuf 3.20, TensorFlow ≤ 2.14) cannot
live beside onnx 1.23 and TensorFlow 2.21; so the layers are mapped here, one handler per layer class:

    QActivation(quantized_bits)      → Quant                  QActivation(quantized_relu) → Relu, Quant
    QDense / Dense                   → Quant(W), Quant(b), Gemm(transB=1) [, activation]
    QConv2D / Conv2D (channels_last) → Quant(W), Quant(b), Conv [, activation]
    MaxPooling2D / AveragePooling2D  → MaxPool / AveragePool; Flatten → Flatten; Dropout → nothing

Keras is channels-last, hwprune (ONNX) channels-first: the graph input becomes [N, C, H, W] and the
Dense after a Flatten gets its weight rows permuted from Keras's (h, w, c) order to (c, h, w), which
keeps the arithmetic identical (no Transpose op). Weights are stored already quantized (QKeras's own
output), so each Quant reproduces QKeras's integers exactly.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from hwprune.errors import GraphError, UnsupportedOpError
from hwprune.frontend.keras_quantizers import QuantSpec, activation_spec, quantize_constant

__all__ = ["keras_to_qonnx", "supported_layers", "OPSET", "QONNX_DOMAIN"]

log = logging.getLogger(__name__)

OPSET = 13
QONNX_DOMAIN = "qonnx.custom_op.general"


@dataclass(frozen=True)
class _Value:
    """The tensor flowing along the chain: ONNX name, per-sample shape (channels first), and the
    (C, H, W) it was flattened from while its order is still Keras's (h, w, c)."""

    name: str
    shape: tuple[int, ...]
    flattened_from: tuple[int, int, int] | None = None


class _Builder:
    """Collects nodes and initializers under unique names derived from the Keras layer names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self._taken: set[str] = set()

    def fresh(self, name: str) -> str:
        base, index = name, 1
        while name in self._taken:
            name, index = f"{base}_{index}", index + 1
        self._taken.add(name)
        return name

    def const(self, name: str, value: np.ndarray) -> str:
        name = self.fresh(name)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, domain: str = "", **attrs: Any) -> str:
        name = self.fresh(name)
        out = self.fresh(f"{name}_out")
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, domain=domain, **attrs))
        return out

    def quant(self, x: str, spec: QuantSpec, name: str, step_shape: tuple[int, ...] = ()) -> str:
        """A QONNX Quant of ``x``; ``step_shape`` reshapes a per-channel step to broadcast on ``x``."""
        step = spec.step.reshape(step_shape) if spec.step.size > 1 else spec.step.reshape(())
        inputs = [x, self.const(f"{name}/scale", step), self.const(f"{name}/zero_point", np.zeros(())),
                  self.const(f"{name}/bit_width", np.asarray(float(spec.bits)))]
        return self.node("Quant", inputs, name, domain=QONNX_DOMAIN, signed=int(spec.signed),
                         narrow=int(spec.narrow), rounding_mode="ROUND")


Handler = Callable[[_Builder, Any, _Value, bool], _Value]
_HANDLERS: dict[str, Handler] = {}


def _layer(*class_names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for class_name in class_names:
            _HANDLERS[class_name] = fn
        return fn

    return register


def supported_layers() -> list[str]:
    return sorted([*_HANDLERS, "InputLayer"])


def _where(layer: Any) -> tuple[str, str]:
    return layer.name, type(layer).__name__


def _fail(layer: Any, reason: str) -> UnsupportedOpError:
    return UnsupportedOpError(reason, node=layer.name, op=type(layer).__name__)


def _activation(b: _Builder, layer: Any, fn: Any, x: _Value, last: bool) -> _Value:
    """A layer's activation: a Keras function by name, or a QKeras quantizer object."""
    if fn is None:
        return x
    if hasattr(fn, "bits"):  # a QKeras quantizer (quantized_bits, quantized_relu, ...)
        spec = activation_spec(fn, _where(layer))
        name = x.name
        if spec.relu:
            name = b.node("Relu", [name], f"{layer.name}/Relu")
        return replace(x, name=b.quant(name, spec, f"{layer.name}/act_quant"))
    kind = getattr(fn, "__name__", str(fn))
    if kind == "linear":
        return x
    if kind == "relu":
        return replace(x, name=b.node("Relu", [x.name], f"{layer.name}/Relu"))
    if kind == "softmax" and last:
        # Monotonic, so argmax is unchanged; the hardware returns logits (docs/keras.md).
        log.info("%s: final softmax dropped; the compiled model outputs logits", layer.name)
        return x
    raise _fail(layer, f"activation {kind!r} is not supported; supported: linear, relu, quantized_bits, "
                       "quantized_relu (and softmax as the last layer, dropped)")


@_layer("QActivation", "Activation")
def _activation_layer(b: _Builder, layer: Any, x: _Value, last: bool) -> _Value:
    fn = getattr(layer, "quantizer", None) or layer.activation
    return _activation(b, layer, fn, x, last)


@_layer("ReLU")
def _relu_layer(b: _Builder, layer: Any, x: _Value, last: bool) -> _Value:
    if layer.max_value is not None or float(layer.negative_slope) != 0.0 or float(layer.threshold) != 0.0:
        raise _fail(layer, "only the plain ReLU (no max_value, negative_slope or threshold) is supported")
    return replace(x, name=b.node("Relu", [x.name], f"{layer.name}/Relu"))


@_layer("Dropout")
def _identity(b: _Builder, layer: Any, x: _Value, last: bool) -> _Value:
    return x


def _constant(b: _Builder, layer: Any, attr: str, value: np.ndarray, channel_axis: int,
              arrange: Callable[[np.ndarray], np.ndarray], step_shape: tuple[int, ...]) -> str:
    """A weight or bias: QKeras-quantized and wrapped in a Quant when the layer has a quantizer for it,
    else the float values (left to hwprune's PTQ). ``arrange`` maps Keras layout to ONNX layout."""
    quantizer = getattr(layer, f"{attr}_quantizer_internal", None)
    name = f"{layer.name}/{attr}"
    if quantizer is None:
        return b.const(name, arrange(value.astype(np.float32)))
    quantized, spec = quantize_constant(quantizer, value, channel_axis, _where(layer))
    per_channel = spec.step.size > 1
    spec = replace(spec, step=spec.step.reshape(-1) if per_channel else spec.step)
    values = b.const(name, arrange(quantized))
    return b.quant(values, spec, f"{name}_quant", step_shape if per_channel else ())


@_layer("QDense", "Dense")
def _dense(b: _Builder, layer: Any, x: _Value, last: bool) -> _Value:
    weights = layer.get_weights()
    kernel = np.asarray(weights[0])
    if len(x.shape) != 1:
        raise _fail(layer, f"Dense on a tensor of shape {list(x.shape)} is not supported; "
                           "add a Flatten before it")
    out_features = kernel.shape[1]

    def arrange(w: np.ndarray) -> np.ndarray:
        if x.flattened_from is not None:  # rows in Keras's (h, w, c) order → ONNX Flatten's (c, h, w)
            c, h, w_ = x.flattened_from
            w = w.reshape(h, w_, c, out_features).transpose(2, 0, 1, 3).reshape(-1, out_features)
        return w.T  # Gemm with transB=1 reads [out, in], as PyTorch and Brevitas export it

    inputs = [x.name, _constant(b, layer, "kernel", kernel, 1, arrange, (out_features, 1))]
    if layer.use_bias:
        inputs.append(_constant(b, layer, "bias", np.asarray(weights[1]), 0, lambda v: v, (out_features,)))
    y = _Value(b.node("Gemm", inputs, f"{layer.name}/Gemm", transB=1), (out_features,))
    return _activation(b, layer, layer.activation, y, last)


def _same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's SAME padding: the extra pixel of an odd total goes at the end."""
    span = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def _window(layer: Any, x: _Value, kernel: tuple[int, int], strides: tuple[int, int],
            dilations: tuple[int, int]) -> tuple[list[int], tuple[int, int]]:
    """ONNX pads [top, left, bottom, right] and the output (H, W) of a 2-D window op."""
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise _fail(layer, "only data_format='channels_last' is supported")
    if len(x.shape) != 3:
        raise _fail(layer, f"needs an image tensor [H, W, C], not a tensor of shape {list(x.shape)}")
    padding = str(layer.padding).lower()
    sizes = x.shape[1:]
    if padding == "valid":
        begin_end = [(0, 0), (0, 0)]
    elif padding == "same":
        begin_end = [_same_pads(n, k, s, d) for n, k, s, d in zip(sizes, kernel, strides, dilations)]
    else:
        raise _fail(layer, f"padding {padding!r} is not supported; supported: valid, same")
    out = tuple((n + p0 + p1 - ((k - 1) * d + 1)) // s + 1
                for n, (p0, p1), k, s, d in zip(sizes, begin_end, kernel, strides, dilations))
    if min(out) < 1:
        raise _fail(layer, f"the window does not fit the input of size {list(sizes)}")
    pads = [begin_end[0][0], begin_end[1][0], begin_end[0][1], begin_end[1][1]]
    return pads, (out[0], out[1])


@_layer("QConv2D", "Conv2D")
def _conv(b: _Builder, layer: Any, x: _Value, last: bool) -> _Value:
    if int(getattr(layer, "groups", 1)) != 1:
        raise _fail(layer, "grouped convolutions are not supported")
    weights = layer.get_weights()
    kernel = np.asarray(weights[0])  # [kh, kw, in, out]
    kh, kw, _, filters = kernel.shape
    strides, dilations = tuple(layer.strides), tuple(layer.dilation_rate)
    pads, (height, width) = _window(layer, x, (kh, kw), strides, dilations)
    inputs = [x.name, _constant(b, layer, "kernel", kernel, 3, lambda w: w.transpose(3, 2, 0, 1),
                                (filters, 1, 1, 1))]
    if layer.use_bias:
        inputs.append(_constant(b, layer, "bias", np.asarray(weights[1]), 0, lambda v: v, (filters,)))
    out = b.node("Conv", inputs, f"{layer.name}/Conv", kernel_shape=[kh, kw], strides=list(strides),
                 dilations=list(dilations), pads=pads, group=1)
    return _activation(b, layer, layer.activation, _Value(out, (filters, height, width)), last)


@_layer("MaxPooling2D", "AveragePooling2D")
def _pool(b: _Builder, layer: Any, x: _Value, last: bool) -> _Value:
    kernel, strides = tuple(layer.pool_size), tuple(layer.strides)
    pads, (height, width) = _window(layer, x, kernel, strides, (1, 1))
    op = "MaxPool" if type(layer).__name__ == "MaxPooling2D" else "AveragePool"
    attrs: dict[str, Any] = {"kernel_shape": list(kernel), "strides": list(strides), "pads": pads}
    if op == "AveragePool":
        attrs["count_include_pad"] = 0  # Keras averages over the real pixels of a SAME window
    return _Value(b.node(op, [x.name], f"{layer.name}/{op}", **attrs), (x.shape[0], height, width))


@_layer("Flatten")
def _flatten(b: _Builder, layer: Any, x: _Value, last: bool) -> _Value:
    if len(x.shape) == 1:
        return x
    if len(x.shape) != 3 or getattr(layer, "data_format", "channels_last") != "channels_last":
        raise _fail(layer, f"only a channels_last image [H, W, C] can be flattened, not {list(x.shape)}")
    c, h, w = x.shape
    order = (c, h, w) if c > 1 and h * w > 1 else None  # with one channel or one pixel the orders agree
    return _Value(b.node("Flatten", [x.name], f"{layer.name}/Flatten", axis=1), (c * h * w,), order)


def _chain(model: Any) -> list[Any]:
    """The model's layers in order, checked to form a single chain (no branches, no nesting)."""
    config = model.get_config()
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if type(model).__name__ != "Sequential":
        previous = None
        for entry in config.get("layers", []):
            inbound = entry.get("inbound_nodes") or []
            sources = [item[0] for node in inbound for item in node] if inbound else []
            if previous is not None and sources != [previous]:
                raise UnsupportedOpError(f"reads {sources or 'nothing'}; only a single chain of layers "
                                         "(no branches, merges or shared layers) is supported",
                                         node=entry.get("name"), op=entry.get("class_name"))
            previous = entry.get("name")
        last = config.get("output_layers", [[None]])[0][0]
        if len(model.outputs) != 1 or (layers and last != layers[-1].name):
            raise GraphError("the model must have exactly one output, produced by its last layer")
    for layer in layers:
        if hasattr(layer, "layers"):
            raise _fail(layer, "nested models are not supported; rebuild the model as one flat chain")
    return layers


def _input(model: Any) -> _Value:
    if len(model.inputs) != 1:
        raise GraphError(f"the model has {len(model.inputs)} inputs; exactly one is supported")
    shape = tuple(model.inputs[0].shape)[1:]
    if any(d is None for d in shape):
        raise GraphError(f"the model input has dynamic dimensions {list(shape)}; "
                         "give Input(shape=...) fixed sizes")
    if len(shape) == 1:
        return _Value("input", (int(shape[0]),))
    if len(shape) == 3:
        h, w, c = (int(d) for d in shape)
        return _Value("input", (c, h, w))
    raise GraphError(f"the model input of shape {list(shape)} is neither [features] nor [H, W, C]")


def keras_to_qonnx(model: Any) -> onnx.ModelProto:
    """Map every layer of ``model`` (a single chain) to QONNX nodes; the input is [N, C, H, W] or [N, F]."""
    b = _Builder()
    x = _input(model)
    b.fresh(x.name)
    graph_input = helper.make_tensor_value_info(x.name, TensorProto.FLOAT, ["batch", *x.shape])
    layers = _chain(model)
    for index, layer in enumerate(layers):
        handler = _HANDLERS.get(type(layer).__name__)
        if handler is None:
            raise _fail(layer, f"layer type {type(layer).__name__} is not supported; supported: "
                               f"{', '.join(supported_layers())}")
        x = handler(b, layer, x, index == len(layers) - 1)
    if x.flattened_from is not None:
        raise GraphError("the model output is a flattened channels-last feature map; end with a Dense layer")
    if x.name == "input":
        raise GraphError("the model computes nothing (its output is its input)")
    output = helper.make_tensor_value_info(x.name, TensorProto.FLOAT, ["batch", *x.shape])
    graph = helper.make_graph(b.nodes, model.name or "keras_model", [graph_input], [output], b.initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                    helper.make_opsetid(QONNX_DOMAIN, 1)],
                              producer_name="hwprune.frontend.keras")
    proto.ir_version = 8
    return proto
