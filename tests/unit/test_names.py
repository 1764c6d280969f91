"""Names are data: hostile ONNX names import fine and never become code, paths or broken identifiers.

``hwprune.lower.names`` turns node/tensor names into Verilog/C++ identifiers; these tests pin what an
identifier must be (``^[A-Za-z][A-Za-z0-9_]*$``, not a keyword, at most 48 characters, unique,
deterministic) on the names the issue lists and on random text, then compile a model whose every name
is hostile and check the build: nothing outside the output directory, only plain file names, and C++
that g++ accepts.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from hwprune.errors import GraphError, ModelLoadError
from hwprune.frontend import import_onnx_model
from hwprune.frontend.onnx_loader import load_onnx_bytes
from hwprune.ir.execute import run_float
from hwprune.lower.names import MAX_LENGTH, RESERVED, identifier, unique_identifiers

IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
SAFE_FILE_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")

HOSTILE = [
    "../../x", "a b;", "module", "int", "x" * 300, "ünïcødé", "∑", "", "/fc0/Gemm", "1abc", "_", "__init__",
    "Module", "MODULE", "wire", "class", "a\nb", "*/ int evil; /*", "con", "a" * 48, "a" * 47 + "_1",
    "日本語のレイヤー", "\x00", "   ", "a-b-c", "n", "n_1",
]

# The full keyword sets an identifier must avoid: IEEE 1800-2017 (SystemVerilog, which Verilator parses
# .v files as by default) and C++20, plus C macros HLS code sees.
SYSTEMVERILOG_2017 = set("""
accept_on alias always always_comb always_ff always_latch and assert assign assume automatic before begin bind
bins binsof bit break buf bufif0 bufif1 byte case casex casez cell chandle checker class clocking cmos config
const constraint context continue cover covergroup coverpoint cross deassign default defparam design disable
dist do edge else end endcase endchecker endclass endclocking endconfig endfunction endgenerate endgroup
endinterface endmodule endpackage endprimitive endprogram endproperty endspecify endsequence endtable endtask
enum event eventually expect export extends extern final first_match for force foreach forever fork forkjoin
function generate genvar global highz0 highz1 if iff ifnone ignore_bins illegal_bins implements implies import
incdir include initial inout input inside instance int integer interconnect interface intersect join join_any
join_none large let liblist library local localparam logic longint macromodule matches medium modport module
nand negedge nettype new nexttime nmos nor noshowcancelled not notif0 notif1 null or output package packed
parameter pmos posedge primitive priority program property protected pull0 pull1 pulldown pullup
pulsestyle_ondetect pulsestyle_onevent pure rand randc randcase randsequence rcmos real realtime ref reg
reject_on release repeat restrict return rnmos rpmos rtran rtranif0 rtranif1 s_always s_eventually s_nexttime
s_until s_until_with scalared sequence shortint shortreal showcancelled signed small soft solve specify
specparam static string strong strong0 strong1 struct super supply0 supply1 sync_accept_on sync_reject_on
table tagged task this throughout time timeprecision timeunit tran tranif0 tranif1 tri tri0 tri1 triand
trior trireg type typedef union unique unique0 unsigned until until_with untyped use uwire var vectored
virtual void wait wait_order wand weak weak0 weak1 while wildcard wire with within wor xnor xor
""".split())
CPP20 = set("""
alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t char32_t class
compl concept const consteval constexpr constinit const_cast continue co_await co_return co_yield decltype
default delete do double dynamic_cast else enum explicit export extern false float for friend goto if inline
int long mutable namespace new noexcept not not_eq nullptr operator or or_eq private protected public register
reinterpret_cast requires return short signed sizeof static static_assert static_cast struct switch template
this thread_local throw true try typedef typeid typename union unsigned using virtual void volatile wchar_t
while xor xor_eq main NULL EOF assert errno stdin stdout stderr
""".split())


def check_identifiers(names: list[str], idents: list[str], keywords: set[str] | frozenset[str] = RESERVED) -> None:
    assert len(idents) == len(names)
    for name, ident in zip(names, idents):
        assert IDENTIFIER.match(ident), (name, ident)
        assert len(ident) <= MAX_LENGTH, (name, ident, len(ident))
        assert ident.lower() not in {k.lower() for k in keywords}, (name, ident)
        assert "__" not in ident, (name, ident)  # reserved to the implementation in C++
    assert len({i.lower() for i in idents}) == len(idents), idents  # unique even on case-insensitive disks
    assert unique_identifiers(names) == idents  # deterministic


def test_issue_names_become_legal_unique_identifiers():
    names = ["../../x", "a b;", "module", "int", "x" * 300, "ünïcødé", "", "", "/fc0/Gemm", "∑"]
    idents = unique_identifiers(names)
    check_identifiers(names, idents)
    assert idents[:4] == ["x", "a_b", "n_module", "n_int"]


def test_identifier_keeps_plain_names_and_prefixes_the_rest():
    assert identifier("fc0") == "fc0"
    assert identifier("/fc0/Gemm") == "fc0_Gemm"
    assert identifier("3x3", prefix="layer") == "layer_3x3"
    assert identifier("") == "n" and identifier("∑∑", prefix="layer") == "layer"


def test_long_names_are_cut_with_a_digest_that_keeps_them_apart():
    a, b = "y" * 200 + "a", "y" * 200 + "b"
    ia, ib = unique_identifiers([a, b])
    assert len(ia) <= MAX_LENGTH and len(ib) <= MAX_LENGTH
    assert ia != ib and not ib.endswith("_1")  # told apart by their digests, not by order


def test_duplicates_of_a_max_length_name_stay_within_the_limit():
    names = ["a" * MAX_LENGTH] * 3
    check_identifiers(names, unique_identifiers(names))


def test_cut_names_never_hold_a_double_underscore():
    names = ["x" * 40 + "_" + "y" * 20]
    check_identifiers(names, unique_identifiers(names))


def test_every_systemverilog_and_cpp_keyword_is_avoided():
    names = sorted(SYSTEMVERILOG_2017 | CPP20)
    check_identifiers(names, unique_identifiers(names), SYSTEMVERILOG_2017 | CPP20)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(names=st.lists(st.one_of(st.text(max_size=60), st.sampled_from(HOSTILE[:19])), max_size=20))
def test_random_names_become_legal_unique_identifiers(names):
    """Random text (any Unicode, any length, duplicates at the length limit included)."""
    check_identifiers(names, unique_identifiers(names))


# ---- a model whose every name is hostile ---------------------------------------------------------------
NAMES = {
    "input": "../../x",
    "fc0": "module",
    "w0": "int",
    "b0": "a b;",
    "h": "h" * 300,
    "relu": "",
    "r": "ünïcødé∑/../",
    "fc1": "x" * 300 + "\\",  # a trailing backslash would splice a // comment onto the next line
    "w1": "../../etc/passwd",
    "b1": "*/ int injected; /*",
    "y": "y/../../z",
}


def hostile_model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    n = NAMES
    nodes = [helper.make_node("Gemm", [n["input"], n["w0"], n["b0"]], [n["h"]], name=n["fc0"], transB=1),
             helper.make_node("Relu", [n["h"]], [n["r"]], name=n["relu"]),
             helper.make_node("Gemm", [n["r"], n["w1"], n["b1"]], [n["y"]], name=n["fc1"], transB=1)]
    inits = {n["w0"]: rng.standard_normal((6, 8)) / 3, n["b0"]: rng.standard_normal(6),
             n["w1"]: rng.standard_normal((4, 6)) / 3, n["b1"]: rng.standard_normal(4)}
    graph = helper.make_graph(
        nodes, "../../graph name; rm -rf /",
        [helper.make_tensor_value_info(n["input"], TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info(n["y"], TensorProto.FLOAT, ["N", 4])],
        initializer=[numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


def test_hostile_names_import_and_match_onnxruntime():
    raw = hostile_model().SerializeToString()
    graph = import_onnx_model(load_onnx_bytes(raw, "hostile.onnx"), "hostile.onnx")
    feeds = {NAMES["input"]: np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)}
    want = ort.InferenceSession(raw, providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    got = run_float(graph, feeds)[graph.outputs[0]]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    names = [node.name for node in graph.nodes] + sorted(graph.tensors)
    assert NAMES["fc0"] in names and NAMES["w1"] in names  # names are kept as data, not rewritten
    check_identifiers(names, unique_identifiers(names))


def test_external_data_outside_the_model_directory_is_refused(tmp_path):
    """hwprune reads no external data at all, so a location that escapes the directory is never opened."""
    (tmp_path / "secret.bin").write_bytes(b"\x00" * 64)
    model = hostile_model()
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../secret.bin"), ("offset", "0"), ("length", "192")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    (tmp_path / "models").mkdir()
    path = tmp_path / "models" / "escape.onnx"
    path.write_bytes(model.SerializeToString())
    from hwprune.frontend import import_onnx

    with pytest.raises(ModelLoadError, match="uses external data, which hwprune does not load"):
        import_onnx(path)


@pytest.mark.parametrize("name", ["evil\n#error injected", "tab\there", "nul\x00", "del\x7f", "c1\x85"])
def test_names_with_control_characters_are_refused(name):
    """A newline would end the ``//`` comment a name is quoted in, making the rest of it code."""
    model = hostile_model()
    model.graph.node[2].name = name
    with pytest.raises(GraphError, match="contains a control character") as info:
        load_onnx_bytes(model.SerializeToString(), "ctl.onnx")
    assert info.value.node == name and "\n" not in info.value.message


def _tree(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def test_hostile_names_compile_into_safe_files_and_valid_cpp(tmp_path):
    """A full compile of the hostile model: only plain file names, all inside the build directory, C++
    that g++ accepts and Verilog that Verilator's ``--lint-only -Wall`` accepts.

    $HOME is left as it is here: a successful compile fills tool caches there (Yosys results under
    ~/.cache/hwprune, wasmtime modules, matplotlib's font cache), and a fresh $HOME would redo the
    synthesis on every run. The failing corpus compiles in test_corpus.py do sandbox $HOME.
    """
    root = tmp_path / "root"
    for sub in ("in", "out", "tmp"):
        (root / sub).mkdir(parents=True)
    model = root / "in" / "hostile.onnx"
    onnx.save(hostile_model(), model)
    calibration = root / "in" / "calibration.npz"
    np.savez(calibration, x=np.random.default_rng(2).standard_normal((32, 8)).astype(np.float32))
    out = root / "out" / "build"
    before = _tree(root)
    env = dict(os.environ, TMPDIR=str(root / "tmp"), PYTHONDONTWRITEBYTECODE="1")
    result = subprocess.run([sys.executable, "-m", "hwprune.cli", "compile", str(model), "-o", str(out)],
                            capture_output=True, text=True, cwd=root, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    after = _tree(root)
    outside = sorted(k for k in after if k not in before and k != "out/build" and not k.startswith("out/build/"))
    assert outside == [], outside
    assert {k: v for k, v in after.items() if k in before} == before
    for path in out.rglob("*"):
        assert SAFE_FILE_NAME.match(path.name), path
    # the HLS backend and g++ are part of the toolchain setup: their absence is a failure, not a skip
    sources = sorted((out / "hls").rglob("*.cpp"))
    assert sources, "the build wrote no HLS C++"
    from hwprune.sim.csim import CXXFLAGS, ap_types_dir

    ap_types = ap_types_dir()
    cxx = shutil.which("g++")
    assert cxx is not None, "g++ is not installed (tools/setup.sh installs it)"
    firmware = out / "hls" / "firmware"
    for source in sources:
        check = subprocess.run([cxx, *CXXFLAGS, "-fsyntax-only", "-isystem", str(ap_types),
                                f"-I{firmware}", f"-I{firmware / 'include'}", str(source)],
                               capture_output=True, text=True, timeout=300)
        assert check.returncode == 0, f"{source.name}:\n{check.stderr[-3000:]}"
    verilog = sorted((out / "rtl").glob("*.v"))
    assert verilog, "the build wrote no Verilog"
    from hwprune.backends.rtl.emit import waiver_file
    from hwprune.sim.rtl_runner import tool_environment

    for top in verilog:  # each module as the top, the others beside it (a network top instantiates them)
        with tool_environment():
            lint = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", top.stem,
                                   str(waiver_file()), *map(str, verilog)], capture_output=True, text=True)
        assert lint.returncode == 0 and "%Warning" not in lint.stderr, f"{top.name}:\n{lint.stderr[-3000:]}"
    for path in [*sources, *firmware.glob("*.h")]:  # a newline in a name must not end a // comment
        lines = path.read_text(encoding="utf-8").splitlines()
        assert not [line for line in lines if line.lstrip().startswith("#error")], path
