"""Generate the bad-input corpus in this directory (deterministic: same bytes on every run).

    python tests/corpus/make_corpus.py            # rewrite the files beside this script
    python tests/corpus/make_corpus.py --check    # exit 1 if a committed file is stale or missing

Every entry is a small file that hwprune must refuse with one clear line naming the file, the node
(when there is one) and the reason; ``tests/unit/test_corpus.py`` runs each through the CLI. The
expected reason and node live here, beside the builder, in ``MODELS``, ``BOARDS`` and ``CONFIGS``.
Only ``onnx`` and ``numpy`` are used, so the bytes do not depend on hwprune itself.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
IR_VERSION = 9  # fixed, so the bytes do not follow the installed onnx's default
OPSET = 17


@dataclass(frozen=True)
class Case:
    """One corpus file: how to make its bytes, and what the one-line error must contain."""

    build: Callable[[], bytes]
    reason: str
    node: str | None = None


# ---- helpers ----------------------------------------------------------------------------------------
def _model(nodes: list[onnx.NodeProto], inputs: dict[str, list[int]], outputs: dict[str, list[int] | None],
           inits: dict[str, np.ndarray] | None = None, opset: int = OPSET,
           extra_opsets: dict[str, int] | None = None) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "corpus",
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, v) for k, v in inputs.items()],
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, v) for k, v in outputs.items()],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()],
    )
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in (extra_opsets or {}).items()]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="hwprune-corpus")
    model.ir_version = IR_VERSION
    return model


def _bytes(model: onnx.ModelProto) -> bytes:
    return model.SerializeToString(deterministic=True)


def _weights(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def tiny_mlp() -> onnx.ModelProto:
    """A valid 8 → 4 → 3 MLP (Gemm, Relu, Gemm) whose weights are all 1.0: the seed of the
    byte-level corruptions below (a valid twin, so a failure is the corruption's doing)."""
    nodes = [
        helper.make_node("Gemm", ["x", "w0", "b0"], ["h"], name="fc0", transB=1),
        helper.make_node("Relu", ["h"], ["r"], name="relu0"),
        helper.make_node("Gemm", ["r", "w1"], ["y"], name="fc1", transB=1),
    ]
    inits = {"w0": np.ones((4, 8), np.float32), "b0": np.zeros(4, np.float32), "w1": np.ones((3, 4), np.float32)}
    return _model(nodes, {"x": [1, 8]}, {"y": [1, 3]}, inits)


def tiny_qonnx(bits: float) -> onnx.ModelProto:
    """x → QONNX Quant(scale 0.1, zero point 0, ``bits``) → Relu → y (bits 8 imports fine)."""
    nodes = [
        helper.make_node("Quant", ["x", "scale", "zero", "bits"], ["q"], name="quant_in",
                         domain="qonnx.custom_op.general", signed=1, narrow=0, rounding_mode="ROUND"),
        helper.make_node("Relu", ["q"], ["y"], name="relu0"),
    ]
    inits = {"scale": np.array(0.1, np.float32), "zero": np.array(0.0, np.float32),
             "bits": np.array(bits, np.float32)}
    return _model(nodes, {"x": [1, 8]}, {"y": [1, 8]}, inits, opset=13,
                  extra_opsets={"qonnx.custom_op.general": 2})


def _flip(raw: bytes, offset: int, mask: int) -> bytes:
    data = bytearray(raw)
    data[offset] ^= mask
    return bytes(data)


# ---- byte-level: not ONNX at all ----------------------------------------------------------------------
def not_onnx() -> bytes:
    return b"GIF89a\x01\x00\x01\x00 this is a picture, not a neural network\n" * 2


def empty() -> bytes:
    return b""


def truncated() -> bytes:
    raw = _bytes(tiny_mlp())
    return raw[: len(raw) // 2]


def bitflip_header() -> bytes:
    """The first tag byte (field 1, varint) becomes 0xF7: wire type 7 does not exist."""
    return _flip(_bytes(tiny_mlp()), 0, 0xFF)


def bitflip_op_type() -> bytes:
    """One bit of ``Relu`` flipped: ``Rdlu``, which no opset defines."""
    raw = _bytes(tiny_mlp())
    return _flip(raw, raw.index(b"Relu") + 1, 0x01)


def bitflip_weight_exponent() -> bytes:
    """Bit 30 of the first weight (1.0f = 0x3F800000) set: 0x7F800000 is +infinity."""
    raw = _bytes(tiny_mlp())
    return _flip(raw, raw.index(np.float32(1.0).tobytes()) + 3, 0x40)


# ---- graphs that are not DAGs, or have impossible shapes ----------------------------------------------
def cycle() -> bytes:
    nodes = [helper.make_node("Add", ["x", "b"], ["a"], name="add_a"),
             helper.make_node("Relu", ["a"], ["b"], name="relu_b"),
             helper.make_node("Relu", ["a"], ["y"], name="relu_out")]
    return _bytes(_model(nodes, {"x": [1, 4]}, {"y": [1, 4]}))


def dangling_input() -> bytes:
    nodes = [helper.make_node("Add", ["x", "ghost"], ["y"], name="add0")]
    return _bytes(_model(nodes, {"x": [1, 4]}, {"y": [1, 4]}))


def duplicate_output() -> bytes:
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="first"),
             helper.make_node("Sigmoid", ["x"], ["y"], name="second")]
    return _bytes(_model(nodes, {"x": [1, 4]}, {"y": [1, 4]}))


def zero_dim() -> bytes:
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu0")]
    return _bytes(_model(nodes, {"x": [1, 0, 4]}, {"y": [1, 0, 4]}))


def negative_dim() -> bytes:
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu0")]
    return _bytes(_model(nodes, {"x": [1, -3]}, {"y": [1, -3]}))


def zero_size_weight() -> bytes:
    nodes = [helper.make_node("Gemm", ["x", "w"], ["y"], name="fc0", transB=1)]
    return _bytes(_model(nodes, {"x": [1, 4]}, {"y": [1, 0]}, {"w": np.zeros((0, 4), np.float32)}))


def huge_tensor() -> bytes:
    """A 3x3 convolution on a 100000x100000 image: 3e10 input elements from a 1 KB file."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv0", pads=[1, 1, 1, 1])]
    return _bytes(_model(nodes, {"x": [1, 3, 100000, 100000]}, {"y": [1, 4, 100000, 100000]},
                         {"w": _weights(4, 3, 3, 3)}))


def huge_macs() -> bytes:
    """x @ x for x of [1, 8192, 8192]: each tensor is within the element limit, 5.5e11 MACs are not."""
    nodes = [helper.make_node("MatMul", ["x", "x"], ["y"], name="square")]
    return _bytes(_model(nodes, {"x": [1, 8192, 8192]}, {"y": [1, 8192, 8192]}))


def bad_attribute() -> bytes:
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv0", strides=[0, 0])]
    return _bytes(_model(nodes, {"x": [1, 3, 8, 8]}, {"y": [1, 4, 6, 6]}, {"w": _weights(4, 3, 3, 3)}))


def newline_in_name() -> bytes:
    """A node name that would end the ``//`` comment quoting it in generated C++ and become code."""
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu0\n#error injected")]
    return _bytes(_model(nodes, {"x": [1, 4]}, {"y": [1, 4]}))


# ---- values hwprune must not compute with --------------------------------------------------------------
def _gemm_with(weight: np.ndarray) -> bytes:
    nodes = [helper.make_node("Gemm", ["x", "fc0.weight"], ["y"], name="fc0", transB=1)]
    return _bytes(_model(nodes, {"x": [1, 4]}, {"y": [1, 3]}, {"fc0.weight": weight}))


def nan_weight() -> bytes:
    weight = _weights(3, 4)
    weight[1, 2] = np.nan
    return _gemm_with(weight)


def inf_weight() -> bytes:
    weight = _weights(3, 4)
    weight[0, 0] = -np.inf
    return _gemm_with(weight)


def nan_constant() -> bytes:
    value = numpy_helper.from_array(np.array([0.0, np.nan, 1.0, 2.0], np.float32))
    nodes = [helper.make_node("Constant", [], ["c"], name="const0", value=value),
             helper.make_node("Add", ["x", "c"], ["y"], name="add0")]
    return _bytes(_model(nodes, {"x": [1, 4]}, {"y": [1, 4]}))


def string_initializer() -> bytes:
    nodes = [helper.make_node("Add", ["x", "words"], ["y"], name="add0")]
    model = _model(nodes, {"x": [1, 4]}, {"y": [1, 4]})
    model.graph.initializer.append(helper.make_tensor("words", TensorProto.STRING, [4], [b"a", b"b", b"c", b"d"]))
    return _bytes(model)


def bn_negative_variance() -> bytes:
    inits = {"g": np.ones(2, np.float32), "b": np.zeros(2, np.float32), "m": np.zeros(2, np.float32),
             "v": np.array([1.0, -4.0], np.float32)}
    nodes = [helper.make_node("BatchNormalization", ["x", "g", "b", "m", "v"], ["y"], name="bn0")]
    return _bytes(_model(nodes, {"x": [1, 2, 3, 3]}, {"y": [1, 2, 3, 3]}, inits))


def layernorm_bad_axis() -> bytes:
    nodes = [helper.make_node("LayerNormalization", ["x", "s"], ["y"], name="ln0", axis=5)]
    return _bytes(_model(nodes, {"x": [1, 4]}, {"y": [1, 4]}, {"s": np.ones(4, np.float32)}))


def no_inputs() -> bytes:
    value = numpy_helper.from_array(np.ones((2, 2), np.float32))
    nodes = [helper.make_node("Constant", [], ["y"], name="const0", value=value)]
    return _bytes(_model(nodes, {}, {"y": [2, 2]}))


# ---- ops and opsets hwprune does not implement ----------------------------------------------------------
def unsupported_op() -> bytes:
    nodes = [helper.make_node("Relu", ["x"], ["h"], name="relu0"),
             helper.make_node("Softsign", ["h"], ["y"], name="encoder.act7")]
    return _bytes(_model(nodes, {"x": [1, 4]}, {"y": [1, 4]}))


def unsupported_domain() -> bytes:
    nodes = [helper.make_node("Frobnicate", ["x"], ["y"], name="custom0", domain="com.example")]
    return _bytes(_model(nodes, {"x": [1, 4]}, {"y": [1, 4]}, extra_opsets={"com.example": 1}))


def opset_too_old() -> bytes:
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu0")]
    return _bytes(_model(nodes, {"x": [1, 4]}, {"y": [1, 4]}, opset=11))


def opset_too_new() -> bytes:
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu0")]
    return _bytes(_model(nodes, {"x": [1, 4]}, {"y": [1, 4]}, opset=99))


def qonnx_bits(bits: int) -> Callable[[], bytes]:
    return lambda: _bytes(tiny_qonnx(bits))


def external_data_escape() -> bytes:
    """An initializer whose data is 'stored' in ../../../etc/passwd: it must never be opened."""
    model = _model([helper.make_node("Add", ["x", "w"], ["y"], name="add0")], {"x": [1, 4]}, {"y": [1, 4]})
    tensor = helper.make_tensor("w", TensorProto.FLOAT, [4], [0.0] * 4)
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../../../etc/passwd"), ("offset", "0"), ("length", "16")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    model.graph.initializer.append(tensor)
    return _bytes(model)


MODELS: dict[str, Case] = {
    "not_onnx.onnx": Case(not_onnx, "not a valid ONNX model"),
    "empty.onnx": Case(empty, "file is empty"),
    "truncated.onnx": Case(truncated, "not a valid ONNX model"),
    "bitflip_header.onnx": Case(bitflip_header, "not a valid ONNX model"),
    "bitflip_op_type.onnx": Case(bitflip_op_type, "No Op registered for Rdlu", "relu0"),
    "bitflip_weight_exponent.onnx": Case(bitflip_weight_exponent, "initializer 'w0' holds non-finite values", "fc0"),
    "cycle.onnx": Case(cycle, "the graph has a cycle", "add_a"),
    "dangling_input.onnx": Case(dangling_input, "input 'ghost' is neither a graph input", "add0"),
    "duplicate_output.onnx": Case(duplicate_output, "output 'y' is assigned more than once", "second"),
    "zero_dim.onnx": Case(zero_dim, "graph input 'x' has a zero-size dimension"),
    "negative_dim.onnx": Case(negative_dim, "graph input 'x' has a negative dimension"),
    "zero_size_weight.onnx": Case(zero_size_weight, "has a zero-size dimension", "fc0"),
    "huge_tensor.onnx": Case(huge_tensor, "over the limit hwprune.frontend.limits.MAX_TENSOR_ELEMENTS"),
    "huge_macs.onnx": Case(huge_macs, "over the limit hwprune.frontend.limits.MAX_MACS", "square"),
    "newline_in_name.onnx": Case(newline_in_name, "contains a control character", "relu0\n#error injected"),
    "bad_attribute.onnx": Case(bad_attribute, "strides must only contain positive values", "conv0"),
    "nan_weight.onnx": Case(nan_weight, "initializer 'fc0.weight' holds non-finite values (1 NaN)", "fc0"),
    "inf_weight.onnx": Case(inf_weight, "initializer 'fc0.weight' holds non-finite values (1 infinite)", "fc0"),
    "nan_constant.onnx": Case(nan_constant, "non-finite values", "const0"),
    "string_initializer.onnx": Case(string_initializer, "initializer 'words' has element type STRING", "add0"),
    "bn_negative_variance.onnx": Case(bn_negative_variance, "variance + epsilon", "bn0"),
    "layernorm_bad_axis.onnx": Case(layernorm_bad_axis, "axis 5 is out of range", "ln0"),
    "no_inputs.onnx": Case(no_inputs, "the graph has no float inputs"),
    "unsupported_op.onnx": Case(unsupported_op, "op type Softsign is not supported", "encoder.act7"),
    "unsupported_domain.onnx": Case(unsupported_domain, "(domain 'com.example') is not supported", "custom0"),
    "opset_too_old.onnx": Case(opset_too_old, "opset 11 is older than the supported minimum 13"),
    "opset_too_new.onnx": Case(opset_too_new, "opset 99 is newer than the newest known opset"),
    "qonnx_bits_0.onnx": Case(qonnx_bits(0), "bit width 0 is outside the supported range", "quant_in"),
    "qonnx_bits_65.onnx": Case(qonnx_bits(65), "bit width 65 is outside the supported range", "quant_in"),
    "external_data_escape.onnx": Case(external_data_escape, "initializer 'w' uses external data"),
}

# ---- board and config files (YAML) ----------------------------------------------------------------------
_BOARD = """\
# A board file for the corpus: {what}
name: {name}
part: xczu9eg-ffvb1156-2-e
family: zynquplus
yosys_family: xcup
lut: 274080
ff: 548160
{dsp}bram18: 1824
bram36: 912
uram: 0
pl_clock_mhz: 100
ps: "Cortex-A53 x4"
dma_width_bits: 128
source: "hwprune test corpus"
"""


def _board(name: str, what: str, dsp: str) -> Callable[[], bytes]:
    return lambda: _BOARD.format(name=name, what=what, dsp=dsp).encode()


BOARDS: dict[str, Case] = {
    "board_missing_field.yaml": Case(_board("board_missing_field", "no dsp field", ""), "missing fields: dsp"),
    "board_negative_dsp.yaml": Case(_board("board_negative_dsp", "dsp < 0", "dsp: -5\n"),
                                    "field 'dsp' must be a non-negative integer, not -5"),
    "board_not_a_mapping.yaml": Case(lambda: b"- zcu102\n- kv260\n", "a board file must be a mapping"),
}

CONFIGS: dict[str, Case] = {
    "config_unknown_key.yaml": Case(lambda: b"board: kv260\nweigth_bits: 4\n", "unknown keys ['weigth_bits']"),
    "config_bad_bits.yaml": Case(lambda: b"weight_bits: 0\n", "weight_bits must be an integer in 2..16, not 0"),
    "config_invalid_yaml.yaml": Case(lambda: b"board: [kv260\n", "invalid YAML"),
}

ALL: dict[str, Case] = {**MODELS, **BOARDS, **CONFIGS}


def generate(directory: Path) -> dict[str, bytes]:
    """Write every corpus file into ``directory``; returns name → bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {name: case.build() for name, case in sorted(ALL.items())}
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return files


def stale(directory: Path) -> list[str]:
    """Corpus files in ``directory`` that are missing or differ from what the builders give."""
    return [name for name, case in sorted(ALL.items())
            if not (directory / name).is_file() or (directory / name).read_bytes() != case.build()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the committed files are current")
    parser.add_argument("--out", type=Path, default=HERE, help="directory to write (default: beside this script)")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale(args.out)
        for name in bad:
            print(f"stale or missing: {name}", file=sys.stderr)
        return 1 if bad else 0
    files = generate(args.out)
    print(f"wrote {len(files)} files ({sum(len(b) for b in files.values())} bytes) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
