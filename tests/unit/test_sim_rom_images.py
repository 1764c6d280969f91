"""ROM images against the ROMs the Verilog holds (hwprune.sim.rom_images), on a hand-written kernel: no simulator."""

from __future__ import annotations

from pathlib import Path

from hwprune.sim.rom_images import read_hex, rom_difference, verilog_rom

VERILOG = """module k (input clk);
  reg [11:0] weights [2:0];
  initial begin
    weights[0] = 12'habc;
    weights[1] = 12'd0;
    weights[2] = 12'h0_00;
  end
  assign w = weights[addr];
  reg [7:0] params [1:0];
  initial begin
    params[0] = 8'h12;
    params[1] = 8'b00000011;
  end
endmodule
"""


def kernel(tmp_path: Path, weights: list[str], params: list[str]) -> Path:
    (tmp_path / "k.v").write_text(VERILOG)
    (tmp_path / "k_weights.hex").write_text("// weight ROM\n" + "".join(w + "\n" for w in weights))
    (tmp_path / "k_params.hex").write_text("// parameter ROM\n" + "".join(p + "\n" for p in params))
    return tmp_path


def test_verilog_initialisers_in_every_base() -> None:
    assert verilog_rom(VERILOG, "weights") == [0xABC, 0, 0]
    assert verilog_rom(VERILOG, "params") == [0x12, 3]
    assert verilog_rom(VERILOG, "offsets") is None


def test_images_that_match_up_to_the_zero_pad_word(tmp_path: Path) -> None:
    rtl = kernel(tmp_path, ["abc", "000"], ["12", "03"])  # the Verilog's third weight word is the pad
    assert read_hex(rtl / "k_weights.hex") == [0xABC, 0]
    assert rom_difference(rtl, "k", "k.v") is None


def test_a_flipped_bit_names_file_word_and_bit(tmp_path: Path) -> None:
    rtl = kernel(tmp_path, ["abc", "000"], ["12", "07"])
    difference = rom_difference(rtl, "k", "k.v")
    assert difference is not None
    assert difference.startswith("rtl/k_params.hex word 1 bit 2: the image holds 0x7, the parameter ROM in rtl/k.v 0x3")


def test_an_image_longer_than_the_rom(tmp_path: Path) -> None:
    rtl = kernel(tmp_path, ["abc", "000", "000", "001"], ["12", "03"])
    difference = rom_difference(rtl, "k", "k.v")
    assert difference is not None and difference.startswith("rtl/k_weights.hex word 3: the image holds 0x1")
    assert "no word" in difference
