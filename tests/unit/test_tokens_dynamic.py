"""Graphs with TokenSelector nodes through the graph quantizer and both executors (hwprune.tokens.dynamic):
one sample at a time, zero-padded to the IR bound with a count per sample, selectors calibrated at their
input tensor's scale, chained selectors passing the package flag, and clear refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hwprune.errors import GraphError, QuantizationError
from hwprune.frontend import import_onnx
from hwprune.ir.execute import run_float
from hwprune.quant import quantize_graph, run_integer
from hwprune.tokens.ir_node import int_selector_of
from hwprune.tokens.export import apply_selector, export_token_model
from hwprune.tokens.selector import TokenSelector

T, D = 6, 8
SHARP = 16.0


class Chain(torch.nn.Module):
    """Linear → selector → selector (fed the first one's package flag) → residual Linear → Linear."""

    def __init__(self, relu_first: bool = False, flatten: bool = False) -> None:
        super().__init__()
        self.embed = torch.nn.Linear(D, D)
        self.mix, self.out = torch.nn.Linear(D, D, bias=False), torch.nn.Linear(D, 4, bias=False)
        self.sel1, self.sel2 = TokenSelector(D, 2), TokenSelector(D, 2)
        self.relu_first, self.flatten = relu_first, flatten
        with torch.no_grad():
            for sel in (self.sel1, self.sel2):  # scores that depend on the token, not on the biases
                sel.score3.weight.mul_(SHARP)
                for layer in (sel.local, sel.score1, sel.score2, sel.score3):
                    layer.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.embed(x)
        t = torch.relu(t) if self.relu_first else t
        t, package = apply_selector(self.sel1, t, torch.zeros(1, dtype=torch.int64))
        if self.flatten:
            return t.reshape(1, -1)
        t, _ = apply_selector(self.sel2, t, package)
        return self.out(t + self.mix(t))


def _graph(tmp_path: Path, **kwargs: bool):  # noqa: ANN202
    torch.manual_seed(1)
    path = tmp_path / "chain.onnx"
    export_token_model(Chain(**kwargs).eval(), torch.zeros(1, T, D), path, "tokens", "y")
    return import_onnx(path)


def _feeds(n: int = 24) -> dict[str, np.ndarray]:
    return {"tokens": np.random.default_rng(2).normal(size=(n, T, D)).astype(np.float32)}


def test_chained_selectors_run_as_int_selectors_per_sample(tmp_path: Path) -> None:
    graph = _graph(tmp_path)
    q = quantize_graph(graph, _feeds())
    first, second = [n for n in q.nodes if n.op == "TokenSelector"]
    assert second.inputs[1] == first.outputs[1]  # the package flag travels between the selectors
    for node in (first, second):
        assert len(node.inputs) == 2 and int_selector_of(node).in_scale == q.tensor(node.inputs[0]).scale[0]
    x = _feeds(10)["tokens"]
    values = run_integer(q, {"tokens": x}, keep_all=True)
    sel1, sel2 = int_selector_of(first), int_selector_of(second)
    fused_into_second = 0
    for i in range(len(x)):
        step1 = sel1.select(torch.from_numpy(values[first.inputs[0]][i]), False)
        step2 = sel2.select(step1.tokens, step1.has_package)
        fused_into_second += int(step1.has_package)
        for node, step in ((first, step1), (second, step2)):
            tokens, flag, count = (values[name][i] for name in node.outputs)
            rows = step.tokens.shape[0]
            assert count == rows and flag == int(step.has_package)
            assert np.array_equal(tokens[:rows], step.tokens.numpy()) and not tokens[rows:].any()
        alone = run_integer(q, {"tokens": x[i:i + 1]})  # a sample alone gives the same rows as in the batch
        assert np.array_equal(alone["y"][0], values["y"][i])
    assert fused_into_second > 0
    outputs = run_integer(q, {"tokens": x})
    assert sorted(outputs) == sorted(["y", second.outputs[2]])  # the output's row count comes with it


def test_float_and_integer_paths_share_the_representation(tmp_path: Path) -> None:
    graph = _graph(tmp_path)
    x = _feeds(5)["tokens"]
    floats = run_float(graph, {"tokens": x})
    count = [n for n in graph.nodes if n.op == "TokenSelector"][1].outputs[2]
    assert floats["y"].shape == (5, T, 4) and floats[count].shape == (5,)
    for i in range(5):
        alone = run_float(graph, {"tokens": x[i:i + 1]})
        assert np.array_equal(alone["y"][0], floats["y"][i]) and not floats["y"][i, int(floats[count][i]):].any()


def test_a_selector_after_relu_is_refused(tmp_path: Path) -> None:
    graph = _graph(tmp_path, relu_first=True)
    with pytest.raises(QuantizationError, match="takes signed 8-bit tokens"):
        quantize_graph(graph, _feeds())


def test_a_reshape_after_a_selector_is_refused(tmp_path: Path) -> None:
    graph = _graph(tmp_path, flatten=True)
    with pytest.raises(GraphError, match="only token-wise ops .* may follow it"):
        run_float(graph, _feeds(2))
    with pytest.raises(GraphError, match="Reshape.*not a token-wise op"):
        quantize_graph(graph, _feeds())


def test_the_float_kernel_refuses_a_batch(tmp_path: Path) -> None:
    from hwprune.ir.execute import FLOAT_KERNELS

    graph = _graph(tmp_path)
    node = next(n for n in graph.nodes if n.op == "TokenSelector")
    xs = [torch.zeros(2, T, D), torch.zeros(1, dtype=torch.int64),
          *[torch.as_tensor(graph.tensor(n).real_values()) for n in node.inputs[2:]]]
    with pytest.raises(GraphError, match="one sample at a time"):
        FLOAT_KERNELS["TokenSelector"](node, xs)
