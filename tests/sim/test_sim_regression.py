"""`hwprune sim` as a regression gate on a real build (the digits MLP): the untouched build passes; a
corrupted expected value, a shifted expected cycle and a flipped ROM bit each make it exit 1 with a
first-mismatch report naming the layer (and, for the case files, the exact vector and beat), in the
table's output and in the JUnit report.

One corrupted build carries (a) and (b) in two layers' case files and a flipped bit of the third's
``.hex`` image, so one replay checks all three reports (each layer is its own JUnit case); the bit
flipped in the Verilog as well (the ROM the RTL simulates) needs a rebuild of that kernel, which the
design cache must notice."""

from __future__ import annotations

import contextlib
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hwprune.cli import main
from hwprune.sim.golden import mutate_cycle, mutate_value, read_case, write_case
from sim_builds import copy_build

pytestmark = pytest.mark.sim

ROOT = Path(__file__).resolve().parents[2]
VALUE_LAYER, CYCLE_LAYER, ROM_LAYER = "fc0_Gemm", "fc1_Gemm", "fc2_Gemm"


@pytest.fixture(scope="module")
def build(mlp_digits_build: Path) -> Path:
    """The bundled example compiled as a user would (4 random vectors + 4 edge vectors per case)."""
    return mlp_digits_build


def copy_of(build: Path, name: str) -> Path:
    return copy_build(build, name)  # no Verilator objects carried over


def run_sim(build: Path) -> tuple[int, str, ET.Element]:
    """(exit code, printed table and report, parsed JUnit report) of ``hwprune sim BUILD --junit-xml``."""
    report = build / "sim-junit.xml"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["sim", str(build), "--junit-xml", str(report)])
    return code, out.getvalue(), ET.parse(report).getroot()


def failures(root: ET.Element) -> dict[str, str]:
    return {c.get("name"): c.find("failure").get("message") for c in root.iter("testcase")
            if c.find("failure") is not None}


def beat_of(build: Path, ident: str, vector: int, beat: int) -> tuple[int, int]:
    """(flat index, beats per vector) of output ``beat`` of ``vector`` in a layer's case."""
    case = read_case(build / "sim" / f"{ident}.case.json")
    per = len(case["expected"]) // case["vectors"]
    assert 0 < beat < per and vector < case["vectors"]
    return vector * per + beat, per


def flip_rom_bit(build: Path, ident: str, word: int, bit: int, verilog: bool) -> None:
    """Flip one bit of weight ROM word ``word`` in the ``.hex`` image (and in the Verilog's initialiser)."""
    hex_path = build / "rtl" / f"{ident}_weights.hex"
    lines = hex_path.read_text(encoding="utf-8").splitlines()
    data = [i for i, line in enumerate(lines) if not line.startswith("//")]
    digits = len(lines[data[word]])
    lines[data[word]] = f"{int(lines[data[word]], 16) ^ (1 << bit):0{digits}x}"
    hex_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if verilog:
        path = build / "rtl" / f"{ident}.v"
        text = path.read_text(encoding="utf-8")
        pattern = re.compile(rf"^(\s*weights\[{word}\] = (\d+)'h)([0-9a-f]+);", re.MULTILINE)
        match = pattern.search(text)
        assert match is not None, f"no weights[{word}] initialiser in {path.name}"
        flipped = f"{int(match.group(3), 16) ^ (1 << bit):0{len(match.group(3))}x}"
        path.write_text(text[:match.start(3)] + flipped + text[match.end(3):], encoding="utf-8")


def test_the_untouched_build_passes_with_one_passing_junit_case_per_layer_and_check(build: Path) -> None:
    code, out, root = run_sim(copy_of(build, "clean"))
    assert code == 0, out
    assert "first mismatch" not in out and "bit-exact and cycle-exact" in out
    names = [c.get("name") for c in root.iter("testcase")]
    assert names == ["layer /fc0/Gemm rtl", "layer /fc1/Gemm rtl", "layer /fc2/Gemm rtl", "network top timed",
                     "network top backpressure"]
    assert failures(root) == {} and {c.get("classname") for c in root.iter("testcase")} == {"hwprune.mlp_digits"}


@pytest.fixture(scope="module")
def corrupted(build: Path, sim_root: Path) -> tuple[Path, dict]:
    """(a) an expected value of fc0, (b) an expected cycle of fc1, (c) a weight bit of fc2's .hex image."""
    target = copy_of(build, "corrupted")
    where = {}
    value_index, per = beat_of(target, VALUE_LAYER, vector=2, beat=1)
    path = target / "sim" / f"{VALUE_LAYER}.case.json"
    write_case(mutate_value(read_case(path), value_index), path)
    where["value"] = (value_index, per)
    cycle_index, per = beat_of(target, CYCLE_LAYER, vector=5, beat=3)
    path = target / "sim" / f"{CYCLE_LAYER}.case.json"
    case = read_case(path)
    write_case(mutate_cycle(case, cycle_index, shift=2), path)
    where["cycle"] = (cycle_index, per, case["expected_cycles"][cycle_index])
    flip_rom_bit(target, ROM_LAYER, word=3, bit=5, verilog=False)
    return target, where


@pytest.fixture(scope="module")
def corrupted_run(corrupted) -> tuple[int, str, ET.Element]:
    return run_sim(corrupted[0])


def test_corrupted_build_exits_1_and_prints_the_first_failing_layers_mismatch(corrupted, corrupted_run) -> None:
    code, out, root = corrupted_run
    assert code == 1
    index, per = corrupted[1]["value"]
    assert f"first mismatch: /fc0/Gemm (timed): value differs at vector 2, output beat 1 of {per} " \
           f"(beat {index} of the stream)" in out
    assert set(failures(root)) == {"layer /fc0/Gemm rtl", "layer /fc1/Gemm rtl", "layer /fc2/Gemm rtl"}
    assert len(list(root.iter("testcase"))) == 5  # the network top (its own copy of every case) passes


def test_corrupted_expected_value_is_reported_at_its_vector_and_beat(corrupted, corrupted_run) -> None:
    build, where = corrupted
    index, per = where["value"]
    message = failures(corrupted_run[2])["layer /fc0/Gemm rtl"]
    lines = message.splitlines()
    assert lines[0] == (f"first mismatch: /fc0/Gemm (timed): value differs at vector 2, output beat 1 of {per} "
                        f"(beat {index} of the stream)")
    case = read_case(build / "sim" / f"{VALUE_LAYER}.case.json")
    cycle = case["expected_cycles"][index]
    assert lines[1].startswith("  expected: 0x") and lines[1].endswith(f"at cycle {cycle}")
    assert int(lines[1].split()[1], 16) == case["expected"][index]
    assert lines[2].startswith("  got:      0x") and int(lines[2].split()[1], 16) == case["expected"][index] - 1
    assert f"at cycle {cycle}  (element 0" in lines[2]  # the low element gained 1
    assert lines[3].startswith("  input vector 2 (64 values, first 16): [")


def test_shifted_expected_cycle_is_reported_at_its_vector_and_beat(corrupted, corrupted_run) -> None:
    index, per, cycle = corrupted[1]["cycle"]
    lines = failures(corrupted_run[2])["layer /fc1/Gemm rtl"].splitlines()
    assert lines[0] == (f"first mismatch: /fc1/Gemm (timed): cycle differs at vector 5, output beat 3 of {per} "
                        f"(beat {index} of the stream)")
    assert lines[1].endswith(f"at cycle {cycle + 2}") and lines[2].endswith(f"at cycle {cycle}")
    assert lines[1].split()[1] == lines[2].split()[1]  # the same (right) value, one beat late or early


def test_flipped_bit_of_a_rom_image_fails_its_layer(corrupted_run) -> None:
    message = failures(corrupted_run[2])["layer /fc2/Gemm rtl"]
    assert message.startswith("first mismatch: /fc2/Gemm (ROM image): rtl/fc2_Gemm_weights.hex word 3 bit 5:")
    assert "rtl/fc2_Gemm.v" in message


def test_flipped_rom_bit_in_the_verilog_is_rebuilt_and_caught(build: Path) -> None:
    target = copy_of(build, "rom-flip")
    flip_rom_bit(target, ROM_LAYER, word=0, bit=7, verilog=True)
    code, out, root = run_sim(target)
    assert code == 1, out
    assert re.search(r"^first mismatch: /fc2/Gemm \(timed\): value differs at vector \d+", out, re.MULTILINE), out
    failed = failures(root)
    assert set(failed) >= {"layer /fc2/Gemm rtl", "network top timed"} and not any("fc0" in n for n in failed)
    assert "value differs" in failed["network top timed"]
    manifest = json.loads((target / "sim" / "manifest.json").read_text())
    assert [k["top"] for k in manifest["kernels"]][-1] == ROM_LAYER


def test_hls_csim_is_one_junit_case_that_fails_on_a_corrupted_golden_output(build: Path) -> None:
    target = copy_of(build, "hls")
    report = target / "hls-junit.xml"
    assert main(["sim", str(target), "--hls", "--junit-xml", str(report)]) == 0
    (case,) = ET.parse(report).getroot().iter("testcase")
    assert (case.get("classname"), case.get("name"), case.find("failure")) == ("hwprune.mlp_digits", "hls csim", None)
    golden = target / "hls" / "tb" / "data" / "mlp_digits.out.txt"
    rows = golden.read_text().splitlines()
    first = rows[0].split()
    rows[0] = " ".join([str(int(first[0]) + 1), *first[1:]])
    golden.write_text("\n".join(rows) + "\n")
    assert main(["sim", str(target), "--hls", "--junit-xml", str(report)]) == 1
    (case,) = ET.parse(report).getroot().iter("testcase")
    message = case.find("failure").get("message")
    assert message.startswith("HLS C-sim FAIL (mlp_digits): mlp_digits: 7/8 vectors bit-exact")
    assert f"vector 0 output 0: got {first[0]}, expected {int(first[0]) + 1}" in message
