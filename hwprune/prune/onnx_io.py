"""IR graph ⇄ trainable torch module ⇄ ONNX, so ``hwprune prune`` can fine-tune an ONNX model.

``GraphModule`` runs the imported IR graph (BatchNorm already folded into the convs) with the same
float kernels as ``hwprune.ir.execute``; each Dense/Conv becomes an ``nn.Linear``/``nn.Conv2d`` holding
the weights as parameters, so the ``Sparsifier`` and any optimizer see an ordinary model. After
training, ``module_to_graph`` copies the weights back and ``graph_to_onnx`` writes a plain opset-17
ONNX file (Gemm, Conv, Relu, MaxPool, AveragePool, GlobalAveragePool, Flatten/Reshape, Add).

Why through the IR and not back into the original file: the IR has BatchNorm folded and ``Gemm``
normalised, so fine-tuned weights map one-to-one; writing them into the original graph would mean
un-folding BatchNorm. QONNX models (Quant nodes) are not supported here — prune and QAT them together
in Brevitas (``examples/train_pruned_qat.py``).
"""

from __future__ import annotations

import copy
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from hwprune import __version__
from hwprune.errors import BuildError, UnsupportedOpError
from hwprune.ir.execute import FLOAT_KERNELS
from hwprune.ir.graph import Graph, Node

__all__ = ["GraphModule", "module_to_graph", "graph_to_onnx", "save_onnx_atomic", "check_supported", "SUPPORTED_OPS"]

SUPPORTED_OPS = ("Dense", "Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "Relu", "Reshape", "Add")
OPSET = 17


def check_supported(graph: Graph) -> None:
    """``UnsupportedOpError`` naming the first node ``hwprune prune`` cannot train or write back."""
    for node in graph.nodes:
        if node.op not in SUPPORTED_OPS:
            hint = " (a QONNX model: prune it during QAT in Brevitas instead)" if node.op in ("Quant", "Quantize") else ""
            raise UnsupportedOpError(
                f"pruning through ONNX supports {', '.join(SUPPORTED_OPS)}{hint}", file=graph.source or None,
                node=node.name, op=node.op,
            )


def _layer_name(node: Node, weight_name: str, taken: set[str]) -> str:
    """A readable module name: ``/conv0/Conv`` → ``conv0``, ``fc.weight`` → ``fc``."""
    parts = [p for p in node.name.split("/") if p]
    if len(parts) >= 2 and parts[-1] in ("Gemm", "Conv", "MatMul"):
        base = "_".join(parts[:-1])
    elif weight_name.endswith(".weight"):
        base = weight_name[: -len(".weight")]
    else:
        base = node.name
    base = re.sub(r"[^0-9A-Za-z_]", "_", base).strip("_") or "layer"
    if base[0].isdigit():
        base = f"layer_{base}"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


class GraphModule(nn.Module):
    """A float IR graph as a trainable module; its Dense/Conv layers are direct submodules (``fc0``)."""

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        check_supported(graph)
        self.graph = graph
        self.node_layer: dict[str, str] = {}
        taken: set[str] = set(dir(self))  # never shadow an nn.Module attribute
        owned: set[str] = set()
        for node in graph.nodes:
            if node.op not in ("Dense", "Conv"):
                continue
            w = graph.tensor(node.inputs[1]).real_values()
            has_bias = len(node.inputs) > 2
            if node.op == "Dense":
                layer: nn.Module = nn.Linear(w.shape[1], w.shape[0], bias=has_bias)
            else:
                g = int(node.attrs["group"])
                layer = nn.Conv2d(w.shape[1] * g, w.shape[0], tuple(w.shape[2:]), groups=g, bias=has_bias)
            with torch.no_grad():
                layer.weight.copy_(torch.from_numpy(w))
                if has_bias:
                    layer.bias.copy_(torch.from_numpy(graph.tensor(node.inputs[2]).real_values()))
            name = _layer_name(node, node.inputs[1], taken)
            self.add_module(name, layer)
            self.node_layer[node.name] = name
            owned.update(node.inputs[1:])
        self._consts = {}
        for tensor in graph.constants():
            if tensor.name not in owned:
                self._consts[tensor.name] = f"const{len(self._consts)}"
                self.register_buffer(self._consts[tensor.name], torch.from_numpy(tensor.real_values()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = {self.graph.inputs[0]: x}
        for name, attr in self._consts.items():
            values[name] = getattr(self, attr)
        for node in self.graph.nodes:
            if node.name in self.node_layer:
                layer = getattr(self, self.node_layer[node.name])
                args = [values[node.inputs[0]], layer.weight] + ([layer.bias] if len(node.inputs) > 2 else [])
            else:
                args = [values[name] for name in node.inputs]
            values[node.outputs[0]] = FLOAT_KERNELS[node.op](node, args)
        return values[self.graph.outputs[0]]


def module_to_graph(module: GraphModule) -> Graph:
    """A copy of the module's graph with the (trained, masked) weights written back."""
    graph = copy.deepcopy(module.graph)
    for node in graph.nodes:
        if node.name not in module.node_layer:
            continue
        layer = getattr(module, module.node_layer[node.name])
        params = [layer.weight] + ([layer.bias] if len(node.inputs) > 2 else [])
        for name, param in zip(node.inputs[1:], params):
            tensor = graph.tensor(name)
            tensor.data = np.ascontiguousarray(param.detach().cpu().numpy().astype(np.float32))
            tensor.shape = list(tensor.data.shape)
    return graph


def _io(graph: Graph, name: str) -> onnx.ValueInfoProto:
    shape = graph.tensor(name).shape
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *shape[1:]])


def graph_to_onnx(graph: Graph) -> onnx.ModelProto:
    """Write a float IR graph (ops in ``SUPPORTED_OPS``) as a deterministic opset-17 ONNX model."""
    check_supported(graph)
    inits = [numpy_helper.from_array(np.asarray(t.real_values(), dtype=np.float32), t.name) for t in graph.constants()]
    nodes = []
    for node in graph.nodes:
        a, out = node.attrs, node.outputs[0]
        relu = a.get("activation") == "relu"
        y = f"{out}::linear" if relu else out
        if node.op == "Dense":
            nodes.append(helper.make_node("Gemm", node.inputs, [y], name=node.name, transB=1))
        elif node.op == "Conv":
            w = graph.tensor(node.inputs[1]).shape
            nodes.append(helper.make_node(
                "Conv", node.inputs, [y], name=node.name, kernel_shape=list(w[2:]), strides=list(a["strides"]),
                pads=list(a["pads"]), dilations=list(a["dilations"]), group=int(a["group"])))
        elif node.op in ("MaxPool", "AveragePool"):
            extra = {"count_include_pad": int(a["count_include_pad"])} if node.op == "AveragePool" else {}
            nodes.append(helper.make_node(
                node.op, node.inputs, [out], name=node.name, kernel_shape=list(a["kernel"]),
                strides=list(a["strides"]), pads=list(a["pads"]), ceil_mode=int(a["ceil_mode"]), **extra))
        elif node.op == "Reshape":
            target = [int(d) for d in a["shape"]]
            if len(target) == 2:
                nodes.append(helper.make_node("Flatten", node.inputs, [out], name=node.name, axis=1))
            else:
                shape_name = f"{node.name}::shape"
                inits.append(numpy_helper.from_array(np.array([-1, *target[1:]], dtype=np.int64), shape_name))
                nodes.append(helper.make_node("Reshape", [node.inputs[0], shape_name], [out], name=node.name))
        else:  # Relu, Add, GlobalAveragePool: same name, same inputs
            nodes.append(helper.make_node(node.op, node.inputs, [out], name=node.name))
        if relu:
            nodes.append(helper.make_node("Relu", [y], [out], name=f"{node.name}::relu"))
    body = helper.make_graph(nodes, graph.name or "hwprune", [_io(graph, n) for n in graph.inputs],
                             [_io(graph, n) for n in graph.outputs], inits)
    model = helper.make_model(body, producer_name="hwprune", producer_version=__version__,
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def save_onnx_atomic(model: onnx.ModelProto, path: str | Path) -> None:
    """Write ``model`` to ``path`` through a temporary file in the same directory and a rename."""
    path = Path(path)
    data = model.SerializeToString(deterministic=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise BuildError(f"cannot write the output: {exc.strerror}", file=path) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
