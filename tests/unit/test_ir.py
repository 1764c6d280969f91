"""The IR itself: exact JSON checkpoints, ``verify()`` naming the faulty node, element types."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwprune.errors import GraphError, HwpruneError
from hwprune.frontend import import_onnx
from hwprune.ir.graph import Graph, Node, Tensor
from hwprune.ir.types import FLOAT32, FloatType, IntType, SparsityPattern, type_from_dict

EXAMPLES = ["mlp_digits.onnx", "cnn_digits.onnx", "mlp_digits_qonnx.onnx"]


def small_graph() -> Graph:
    """x[1,4] → Dense(fc) → h[1,3] → Relu(act) → y[1,3]."""
    rng = np.random.default_rng(0)
    tensors = [
        Tensor("x", [1, 4]),
        Tensor("w", [3, 4], data=rng.standard_normal((3, 4)).astype(np.float32)),
        Tensor("b", [3], data=rng.standard_normal(3).astype(np.float32)),
        Tensor("h", [1, 3]),
        Tensor("y", [1, 3]),
    ]
    nodes = [
        Node("fc", "Dense", ["x", "w", "b"], ["h"], {"activation": "none"}),
        Node("act", "Relu", ["h"], ["y"]),
    ]
    return Graph("small", ["x"], ["y"], {t.name: t for t in tensors}, nodes)


def assert_graphs_equal(a: Graph, b: Graph) -> None:
    assert (a.name, a.source, a.inputs, a.outputs) == (b.name, b.source, b.inputs, b.outputs)
    assert [n.to_dict() for n in a.nodes] == [n.to_dict() for n in b.nodes]
    assert a.tensors.keys() == b.tensors.keys()
    for name, ta in a.tensors.items():
        tb = b.tensors[name]
        assert (ta.shape, ta.dtype, ta.scale, ta.scale_axis, ta.sparsity) == (
            tb.shape, tb.dtype, tb.scale, tb.scale_axis, tb.sparsity), name
        if ta.data is None:
            assert tb.data is None, name
        else:
            assert tb.data is not None and tb.data.dtype == ta.data.dtype, name
            np.testing.assert_array_equal(ta.data, tb.data)


# ---- JSON checkpoints -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", EXAMPLES)
def test_json_round_trip_of_examples_is_exact(name, examples_dir):
    graph = import_onnx(examples_dir / name)
    text = graph.to_json()
    again = Graph.from_json(text)
    assert again.to_json() == text
    assert_graphs_equal(graph, again)
    again.verify()


def test_json_round_trip_keeps_types_scales_sparsity_and_odd_values():
    graph = small_graph()
    w = graph.tensors["w"]
    w.dtype, w.scale, w.scale_axis = IntType(4, True), [0.5, 0.25, 1e-7], 0
    w.data = np.array([[-8, 7, 0, 1]] * 3, dtype=np.int8)
    w.sparsity = SparsityPattern("nm", 0.5, (("m", 4), ("n", 2)))
    graph.tensors["b"].data = np.array([np.float32(1) / 3, -0.0, 3.4e38], dtype=np.float32)
    graph.nodes[1].attrs["note"] = "ünïcode"
    text = graph.to_json()
    again = Graph.from_json(text)
    assert again.to_json() == text
    assert_graphs_equal(graph, again)
    assert np.signbit(again.tensors["b"].data[1])
    assert again.tensors["w"].sparsity.param("n") == 2  # type: ignore[union-attr]


def test_json_is_deterministic_and_sorted():
    a, b = small_graph(), small_graph()
    b.tensors = dict(reversed(list(b.tensors.items())))
    assert a.to_json() == b.to_json()
    assert [t["name"] for t in json.loads(a.to_json())["tensors"]] == sorted(a.tensors)


def test_from_dict_rejects_other_ir_versions():
    data = small_graph().to_dict()
    data["ir_version"] = 99
    with pytest.raises(GraphError, match="IR version 99"):
        Graph.from_dict(data)


def test_real_values_of_per_channel_integer_weight():
    t = Tensor("w", [2, 2], dtype=IntType(8), data=np.array([[1, -2], [3, 4]], np.int8), scale=[0.5, 2.0],
               scale_axis=0)
    np.testing.assert_array_equal(t.real_values(), np.array([[0.5, -1.0], [6.0, 8.0]], np.float32))
    t.scale_axis = 1
    np.testing.assert_array_equal(t.real_values(), np.array([[0.5, -4.0], [1.5, 8.0]], np.float32))
    with pytest.raises(GraphError, match="not a constant"):
        Tensor("a", [1]).real_values()


# ---- verify() ----------------------------------------------------------------------------------------
def test_small_graph_verifies():
    small_graph().verify()


def _rename_relu_to_fc(g: Graph) -> None:
    g.nodes[1].name = "fc"


def _dangling(g: Graph) -> None:
    g.nodes[1].inputs = ["nowhere"]


def _reads_later_output(g: Graph) -> None:
    g.nodes.reverse()  # act reads h before fc produces it


def _true_cycle(g: Graph) -> None:
    g.nodes[0].inputs[0] = "y"  # fc reads act's output, act reads fc's
    g.tensors["y"].shape = [1, 4]


def _wrong_shape(g: Graph) -> None:
    g.tensors["h"].shape = [1, 5]


def _unknown_op(g: Graph) -> None:
    g.nodes[1].op = "Frobnicate"


def _missing_attr(g: Graph) -> None:
    del g.nodes[0].attrs["activation"]


def _too_many_inputs(g: Graph) -> None:
    g.nodes[1].inputs.append("x")


def _assigned_twice(g: Graph) -> None:
    g.nodes[1].outputs = ["h"]


def _bad_weight(g: Graph) -> None:
    g.tensors["w"] = Tensor("w", [3, 5], data=np.zeros((3, 5), np.float32))


VERIFY_CASES = [
    (_rename_relu_to_fc, "fc", "used twice"),
    (_dangling, "act", "'nowhere'"),
    (_reads_later_output, "act", "dangling input or cycle"),
    (_true_cycle, "fc", "dangling input or cycle"),
    (_wrong_shape, "fc", "has shape [1, 5], the op gives [1, 3]"),
    (_unknown_op, "act", "unknown IR op"),
    (_missing_attr, "fc", "missing attributes ['activation']"),
    (_too_many_inputs, "act", "takes 1..1 inputs, not 2"),
    (_assigned_twice, "act", "assigned more than once"),
    (_bad_weight, "fc", "does not match input"),
]


@pytest.mark.parametrize("mutate,node,text", VERIFY_CASES, ids=[c[0].__name__.strip("_") for c in VERIFY_CASES])
def test_verify_names_the_faulty_node(mutate, node, text):
    graph = small_graph()
    mutate(graph)
    with pytest.raises(GraphError) as info:
        graph.verify()
    message = str(info.value)
    assert f"node {node!r}" in message
    assert text in message
    assert info.value.node == node


def test_verify_catches_unproduced_output_and_missing_input_entry():
    graph = small_graph()
    graph.outputs = ["ghost"]
    with pytest.raises(GraphError, match="'ghost' is never produced"):
        graph.verify()
    graph = small_graph()
    del graph.tensors["x"]
    with pytest.raises(GraphError, match="graph input 'x' has no tensor entry"):
        graph.verify()


def test_lookup_errors_name_what_is_missing():
    graph = small_graph()
    with pytest.raises(GraphError, match="tensor 'zz' is not defined in graph 'small'"):
        graph.tensor("zz")
    with pytest.raises(GraphError, match="has no node 'zz'"):
        graph.node("zz")
    assert graph.producer("h") is graph.nodes[0]
    assert graph.consumers("h") == [graph.nodes[1]]
    assert isinstance(GraphError("x"), HwpruneError)


# ---- element types ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bits,signed,lo,hi",
    [(8, True, -128, 127), (8, False, 0, 255), (1, True, -1, 0), (1, False, 0, 1), (4, True, -8, 7),
     (16, False, 0, 65535), (32, True, -(2**31), 2**31 - 1), (64, True, -(2**63), 2**63 - 1),
     (64, False, 0, 2**64 - 1)],
)
def test_int_type_ranges(bits, signed, lo, hi):
    t = IntType(bits, signed)
    assert (t.min, t.max) == (lo, hi)
    assert str(t) == f"{'int' if signed else 'uint'}{bits}"
    assert type_from_dict(t.to_dict()) == t
    assert hash(t) == hash(IntType(bits, signed))


@pytest.mark.parametrize("bits", [0, -8, 65, 8.0, True, "8", None])
def test_int_type_rejects_bad_bit_widths(bits):
    with pytest.raises(ValueError, match=r"integer bit width must be an integer in 1\.\.64, not"):
        IntType(bits)  # type: ignore[arg-type]


def test_float_type_and_unknown_kind():
    assert str(FLOAT32) == "float32" and type_from_dict(FLOAT32.to_dict()) == FloatType(32)
    with pytest.raises(ValueError, match="unknown element type kind 'complex'"):
        type_from_dict({"kind": "complex", "bits": 64})


def test_sparsity_pattern_round_trip_and_param_lookup():
    p = SparsityPattern("bank_balanced", 0.25, (("banks", 4), ("k", 2)))
    assert SparsityPattern.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    assert p.param("banks") == 4
    with pytest.raises(KeyError, match="has no parameter 'm'"):
        p.param("m")
