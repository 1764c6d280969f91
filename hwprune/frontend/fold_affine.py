"""Import passes that fold elementwise ops by constants, and ReLU6-style clips, into Dense/Conv layers.

Why: the integer kernels compute ``requant(Σ x·w + b)`` and nothing else, so a ``Mul``/``Add`` by a
constant next to a layer must become part of its weights and bias, and a ``Clip(0, max)`` after it part of
its output quantization (docs/numerics.md). Each pass is ``apply(graph) -> changed``
(``hwprune.frontend.passes``); what no pass can fold stays in the float IR, where PTQ folds an input
normalisation into the input quantizer or refuses the node with the reason.

- after a layer: ``layer(x) * a + b`` with ``a``, ``b`` one value per output channel (or scalars) →
  ``W·a``, ``bias·a + b``; exact.
- before a layer: ``layer(x * a + b)`` with ``a``, ``b`` per input channel → ``W·a`` and
  ``bias + W·b``; exact for a Dense and for an unpadded Conv (a padded Conv's zeros are not ``b``, so an
  offset there is left alone). Chains that start at a graph input are left for PTQ, whose input quantizer
  takes them exactly with any padding.
"""

from __future__ import annotations

import numpy as np

from hwprune.ir.graph import Graph, Node, Tensor

__all__ = ["fold_affine_after_layers", "fold_affine_before_layers", "fuse_clip", "channel_vector",
           "AFFINE_OPS", "affine_operands"]

AFFINE_OPS = ("Add", "Mul")
LAYERS = ("Conv", "Dense")
FLOAT_MAX = float(np.finfo(np.float32).max)


def _readers(graph: Graph) -> dict[str, list[Node]]:
    readers: dict[str, list[Node]] = {}
    for node in graph.nodes:
        for name in dict.fromkeys(node.inputs):
            readers.setdefault(name, []).append(node)
    return readers


def affine_operands(graph: Graph, node: Node) -> tuple[str, np.ndarray] | None:
    """(activation input, float constant) of an ``Add``/``Mul`` with exactly one float constant input."""
    if node.op not in AFFINE_OPS or len(node.inputs) != 2:
        return None
    tensors = [graph.tensor(name) for name in node.inputs]
    constant = [t.is_constant and not t.is_quantized for t in tensors]
    if constant.count(True) != 1 or any(t.is_constant and t.is_quantized for t in tensors):
        return None
    index = constant.index(True)
    return node.inputs[1 - index], np.asarray(tensors[index].data, dtype=np.float64)


def channel_vector(value: np.ndarray, shape: list[int], axis: int) -> np.ndarray | None:
    """``value`` as one number per channel of ``axis`` of a ``shape`` tensor, or None when it varies along
    another axis or would enlarge ``shape`` by broadcasting."""
    if value.ndim > len(shape):
        return None
    padded = [1] * (len(shape) - value.ndim) + list(value.shape)
    if any(d != 1 for i, d in enumerate(padded) if i != axis) or padded[axis] not in (1, shape[axis]):
        return None
    return np.broadcast_to(value.reshape(-1), (shape[axis],)).astype(np.float64)


def _channel_axis(layer: Node, rank: int) -> int:
    return 1 if layer.op == "Conv" else rank - 1


def _set_constant(graph: Graph, layer: Node, index: int, stem: str, data: np.ndarray) -> None:
    """Point input ``index`` of ``layer`` at a new float32 constant (the old one may be shared)."""
    base, name, suffix = f"{layer.name}/{stem}", f"{layer.name}/{stem}", 1
    while name in graph.tensors:
        name, suffix = f"{base}_{suffix}", suffix + 1
    graph.tensors[name] = Tensor(name, list(data.shape), data=data.astype(np.float32))
    if index < len(layer.inputs):
        layer.inputs[index] = name
    else:
        layer.inputs.append(name)


def _foldable_layer(graph: Graph, layer: Node | None) -> bool:
    return (layer is not None and layer.op in LAYERS and layer.attrs.get("activation") == "none"
            and not graph.tensor(layer.inputs[1]).is_quantized)


def _bias(graph: Graph, layer: Node, out_channels: int) -> np.ndarray:
    if len(layer.inputs) > 2:
        return np.asarray(graph.tensor(layer.inputs[2]).data, dtype=np.float64)
    return np.zeros(out_channels)


def fold_affine_after_layers(graph: Graph) -> bool:
    """``Conv/Dense → Mul/Add(constant per output channel)`` → the layer with new weight and bias.

    One sweep over reader/producer indices kept up to date (a chain ``layer → Mul → Add`` folds whole).
    """
    readers = _readers(graph)
    producers = {out: node for node in graph.nodes for out in node.outputs}
    outputs = set(graph.outputs)
    removed: set[int] = set()
    for node in graph.nodes:
        operands = affine_operands(graph, node)
        if operands is None:
            continue
        x, value = operands
        layer = producers.get(x)
        if not _foldable_layer(graph, layer) or len(readers.get(x, [])) != 1 or x in outputs:
            continue
        assert layer is not None
        shape = list(graph.tensor(x).shape)
        vector = channel_vector(value, shape, _channel_axis(layer, len(shape)))
        if vector is None or list(graph.tensor(node.outputs[0]).shape) != shape:
            continue
        weight = np.asarray(graph.tensor(layer.inputs[1]).data, dtype=np.float64)
        bias = _bias(graph, layer, weight.shape[0])
        if node.op == "Mul":
            _set_constant(graph, layer, 1, "folded_weight", weight * vector.reshape([-1] + [1] * (weight.ndim - 1)))
            bias = bias * vector
        else:
            bias = bias + vector
        _set_constant(graph, layer, 2, "folded_bias", bias)
        del graph.tensors[x]
        layer.outputs[0] = node.outputs[0]
        producers[node.outputs[0]] = layer
        removed.add(id(node))
    if removed:
        graph.nodes = [node for node in graph.nodes if id(node) not in removed]
    return bool(removed)


def _from_graph_input(graph: Graph, name: str, producers: dict[str, Node]) -> bool:
    """True when ``name`` is a graph input or computed from one by affine-by-constant nodes only."""
    while name not in graph.inputs:
        node = producers.get(name)
        operands = affine_operands(graph, node) if node is not None else None
        if operands is None:
            return False
        name = operands[0]
    return True


def _input_channel_map(layer: Node, weight: np.ndarray, in_channels: int) -> np.ndarray:
    """For each weight entry's input position: the input channel it reads (grouped Conv aware), shaped
    like the weight's [out, in_per_group] leading axes."""
    if layer.op == "Dense":
        return np.broadcast_to(np.arange(in_channels), weight.shape)
    groups = int(layer.attrs["group"])
    per_group_in, per_group_out = weight.shape[1], weight.shape[0] // groups
    group_of = np.arange(weight.shape[0]) // per_group_out
    return group_of[:, None] * per_group_in + np.arange(per_group_in)[None, :]


def fold_affine_before_layers(graph: Graph) -> bool:
    """``Mul/Add(constant per input channel) → Conv/Dense`` → the layer with new weight and bias.

    One sweep from the last node back, so a chain ``Mul → Add → layer`` folds whole.
    """
    readers = _readers(graph)
    producers = {out: node for node in graph.nodes for out in node.outputs}
    outputs = set(graph.outputs)
    removed: set[int] = set()
    for node in reversed(graph.nodes):
        operands = affine_operands(graph, node)
        if operands is None:
            continue
        x, value = operands
        y = node.outputs[0]
        users = readers.get(y, [])
        if len(users) != 1 or y in outputs or not _foldable_layer(graph, users[0]) or users[0].inputs[0] != y:
            continue
        layer = users[0]
        if _from_graph_input(graph, x, producers):
            continue  # PTQ folds it into the input quantizer, exactly and with any padding
        shape = list(graph.tensor(y).shape)
        axis = _channel_axis(layer, len(shape))
        vector = channel_vector(value, shape, axis)
        if vector is None or list(graph.tensor(x).shape) != shape:
            continue
        if node.op == "Add" and layer.op == "Conv" and any(layer.attrs["pads"]):
            continue  # the padded zeros would need the offset too
        weight = np.asarray(graph.tensor(layer.inputs[1]).data, dtype=np.float64)
        channels = vector[_input_channel_map(layer, weight, shape[axis])]
        channels = channels.reshape(channels.shape + (1,) * (weight.ndim - channels.ndim))
        if node.op == "Mul":
            _set_constant(graph, layer, 1, "folded_weight", weight * channels)
        else:
            bias = _bias(graph, layer, weight.shape[0]) + (weight * channels).reshape(weight.shape[0], -1).sum(1)
            _set_constant(graph, layer, 2, "folded_bias", bias)
        layer.inputs[0] = x
        readers[x] = [layer if r is node else r for r in readers.get(x, [])]
        del graph.tensors[y]
        removed.add(id(node))
    if removed:
        graph.nodes = [node for node in graph.nodes if id(node) not in removed]
    return bool(removed)


def fuse_clip(graph: Graph) -> bool:
    """``Conv/Dense → Clip(0, max)`` (ReLU6) → the layer with ``activation=relu`` and ``clip_max``.

    The layer's unsigned output type already clamps at 0 and at its largest code; PTQ gives the output the
    scale ``max / qmax`` so that largest code is the clip maximum (docs/numerics.md, "ReLU6").
    """
    readers = _readers(graph)
    outputs = set(graph.outputs)
    fused: set[int] = set()
    for layer in graph.nodes:
        if layer.op not in LAYERS or layer.attrs.get("activation") != "none":
            continue
        out = layer.outputs[0]
        users = readers.get(out, [])
        if len(users) != 1 or users[0].op != "Clip" or out in outputs:
            continue
        clip = users[0]
        low, high = float(clip.attrs["min"]), float(clip.attrs["max"])
        if low != 0.0 or not 0.0 < high < FLOAT_MAX:
            continue
        layer.attrs["activation"] = "relu"
        layer.attrs["clip_max"] = high
        del graph.tensors[out]
        layer.outputs[0] = clip.outputs[0]
        fused.add(id(clip))
    if fused:
        graph.nodes = [node for node in graph.nodes if id(node) not in fused]
    return bool(fused)
