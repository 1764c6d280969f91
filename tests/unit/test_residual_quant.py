"""Residual Add and Concat of two activations: PTQ, the integer reference and its error against float.

The reference must be exactly what the hardware computes (docs/numerics.md): each input brought to the
output scale by ``M_i / 2^sh`` (one shared shift), summed, rounded half up once, saturated; a Relu read
only by the Add fused into it. Checked against a plain-Python statement of that formula on small
tensors, and against the float graph within a stated bound.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwprune.frontend import import_torch
from hwprune.ir.execute import run_float
from hwprune.quant import quantize_graph, run_integer


class Residual(torch.nn.Module):
    """conv3x3-ReLU-conv3x3 + identity shortcut, Add, ReLU, then flatten + Linear."""

    def __init__(self, channels: int = 4) -> None:
        super().__init__()
        nn = torch.nn
        self.stem = nn.Sequential(nn.Conv2d(2, channels, 3, padding=1), nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(channels, channels, 3, padding=1))
        self.fc = nn.Linear(channels * 5 * 5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = torch.relu(x + self.body(x))
        return self.fc(x.flatten(1))


class Concatenated(torch.nn.Module):
    """Two conv branches of one input, concatenated along channels, then a 1x1 conv."""

    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.a = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU())
        self.b = nn.Conv2d(2, 2, 1)
        self.head = nn.Conv2d(5, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.a(x), self.b(x)], dim=1))


def _build(module: torch.nn.Module, seed: int = 0):
    torch.manual_seed(seed)
    module.eval()
    x = torch.randn(1, 2, 5, 5)
    graph = import_torch(module, x, name=type(module).__name__.lower())
    feeds = {graph.inputs[0]: np.random.default_rng(seed).normal(size=(64, 2, 5, 5)).astype(np.float32)}
    return graph, quantize_graph(graph, feeds), feeds


def _plain_add(a, b, ma, mb, shift, lo, hi):
    """The merge requantiser in plain Python integers, element by element."""
    out = np.zeros(a.shape, dtype=object)
    for index in np.ndindex(a.shape):
        acc = int(a[index]) * ma + int(b[index]) * mb
        out[index] = min(max((acc + (1 << (shift - 1))) >> shift, lo), hi)
    return out.astype(np.int64)


def test_add_relu_is_fused_and_unsigned():
    _, q, _ = _build(Residual())
    adds = [n for n in q.nodes if n.op == "Add"]
    assert len(adds) == 1 and adds[0].attrs["activation"] == "relu"
    assert not any(n.op == "Relu" for n in q.nodes)
    out = q.tensor(adds[0].outputs[0])
    assert not out.dtype.signed and out.dtype.bits == 8
    mults, (shift,) = adds[0].attrs["requant_mult"], adds[0].attrs["requant_shift"]
    assert max(mults) in range(1 << 14, 1 << 15) and shift >= 1
    a, b = (q.tensor(name) for name in adds[0].inputs)
    for m, t in zip(mults, (a, b)):  # M_i / 2^sh is the scale ratio to 15 bits
        assert abs(m / 2**shift - t.scale[0] / out.scale[0]) <= 2.0 ** -14 * max(1.0, t.scale[0] / out.scale[0])


def test_add_reference_is_the_hand_computed_requantised_sum():
    _, q, feeds = _build(Residual())
    add = next(n for n in q.nodes if n.op == "Add")
    values = run_integer(q, feeds, keep_all=True)
    a, b = values[add.inputs[0]][:4], values[add.inputs[1]][:4]
    (ma, mb), (shift,) = add.attrs["requant_mult"], add.attrs["requant_shift"]
    want = _plain_add(a, b, ma, mb, shift, 0, 255)
    np.testing.assert_array_equal(values[add.outputs[0]][:4], want)


def test_add_reference_on_a_tiny_tensor_by_hand():
    """Two elements, worked out on paper: a=3, b=-5 with M_a=3, M_b=2, sh=2: (9-10+2)>>2 = 0; a=7, b=4:
    (21+8+2)>>2 = 7; the half case a=1, b=0: (3+2)>>2 = 1 (5/4 rounds to 1), a=2, b=-1: (6-2+2)>>2 = 1."""
    got = _plain_add(np.array([3, 7, 1, 2]), np.array([-5, 4, 0, -1]), 3, 2, 2, -128, 127)
    assert got.tolist() == [0, 7, 1, 1]
    from hwprune.ir.graph import Graph, Node, Tensor
    from hwprune.ir.types import IntType

    i8 = IntType(8, True)
    tensors = {name: Tensor(name, [1, 4], i8, scale=[1.0]) for name in ("a", "b", "y")}
    node = Node("add0", "Add", ["a", "b"], ["y"], {"requant_mult": [3, 2], "requant_shift": [2]})
    graph = Graph("tiny", ["a", "b"], ["y"], tensors, [node])
    y = run_integer(graph, {"a": np.array([[3, 7, 1, 2]]), "b": np.array([[-5, 4, 0, -1]])})["y"]
    assert y.tolist() == [[0, 7, 1, 1]]
    graph.nodes[0].attrs["activation"] = "relu"
    graph.tensors["y"].dtype = IntType(8, False)
    y = run_integer(graph, {"a": np.array([[-30, 100, 1, 2]]), "b": np.array([[-5, 100, 0, -1]])})["y"]
    assert y.tolist() == [[0, 125, 1, 1]]  # clamp at 0, (300+200+2)>>2 = 125


@pytest.mark.parametrize("model", [Residual, Concatenated])
def test_integer_merge_tracks_float_within_a_stated_bound(model):
    """Dequantised integer output within 6 % of the float output's range (8-bit, 3-4 layers deep)."""
    graph, q, feeds = _build(model())
    want = run_float(graph, feeds)[graph.outputs[0]]
    out = q.tensor(q.outputs[0])
    got = run_integer(q, feeds)[q.outputs[0]] * out.scale[0]
    span = float(np.abs(want).max())
    assert float(np.abs(got - want).max()) <= 0.06 * span


def test_concat_requantises_each_input_to_the_output_scale():
    _, q, feeds = _build(Concatenated())
    cat = next(n for n in q.nodes if n.op == "Concat")
    values = run_integer(q, feeds, keep_all=True)
    out = q.tensor(cat.outputs[0])
    assert out.dtype.signed  # one input is signed
    (shift,) = cat.attrs["requant_shift"]
    parts = []
    for name, m in zip(cat.inputs, cat.attrs["requant_mult"]):
        x = values[name][:2]
        parts.append(np.clip((x * m + (1 << (shift - 1))) >> shift, out.dtype.min, out.dtype.max))
    np.testing.assert_array_equal(values[cat.outputs[0]][:2], np.concatenate(parts, axis=1))


def test_concat_of_equal_scales_passes_through():
    from hwprune.ir.graph import Graph, Node, Tensor
    from hwprune.ir.types import IntType
    from hwprune.quant.merge import quantize_concat

    u8 = IntType(8, False)
    tensors = {"a": Tensor("a", [1, 2, 2, 2], u8, scale=[0.5]), "b": Tensor("b", [1, 3, 2, 2], u8, scale=[0.5]),
               "y": Tensor("y", [1, 5, 2, 2])}
    node = Node("cat0", "Concat", ["a", "b"], ["y"], {"axis": 1})
    graph = Graph("cat", ["a", "b"], ["y"], tensors, [node])
    quantize_concat(graph, node, 8, lambda name, signed: 1.0)
    assert "requant_mult" not in node.attrs and graph.tensor("y").scale == [0.5]
    a, b = np.arange(8).reshape(1, 2, 2, 2), np.arange(12).reshape(1, 3, 2, 2)
    y = run_integer(graph, {"a": a, "b": b})["y"]
    np.testing.assert_array_equal(y, np.concatenate([a, b], axis=1))
