"""The g++ level of Verilated models: a checked choice, and part of the design cache key."""

from __future__ import annotations

import pytest

from hwprune.sim import rtl_runner
from hwprune.sim.rtl_runner import OPT_ENV, SimulatorError, model_opt_level


def test_default_is_verilators_own_level(monkeypatch):
    monkeypatch.delenv(OPT_ENV, raising=False)
    assert model_opt_level() == "-Os"


def test_a_bad_level_is_refused_naming_the_variable(monkeypatch):
    monkeypatch.setenv(OPT_ENV, "-O9")
    with pytest.raises(SimulatorError, match=r"\$HWPRUNE_VERILATOR_OPT must be one of -O0, .* not '-O9'"):
        model_opt_level()


def test_levels_never_share_a_cached_build(tmp_path):
    source = tmp_path / "a.v"
    source.write_text("module a; endmodule\n")
    keys = {rtl_runner._design_key([source], "a", ["-Wall", f"OPT_FAST={level}"]) for level in ("-O0", "-Os")}
    assert len(keys) == 2


def test_a_build_directory_of_another_level_is_emptied(tmp_path, monkeypatch):
    """make would keep objects compiled at another level (flags are not its dependencies): the runner
    empties such a directory before building, and keeps one of the same level."""
    build = tmp_path / "obj"
    build.mkdir()
    (build / "Vtop__ALL.o").write_text("old")
    (build / "sub").mkdir()
    monkeypatch.setenv(OPT_ENV, "-O0")
    rtl_runner._forget_other_level(build)
    assert (build / "Vtop__ALL.o").exists()  # no stamp yet: what is there is taken as this level's
    rtl_runner._forget_other_level(build)
    assert (build / "Vtop__ALL.o").exists()  # same level: kept
    monkeypatch.setenv(OPT_ENV, "-Os")
    rtl_runner._forget_other_level(build)
    assert sorted(p.name for p in build.iterdir()) == [rtl_runner.LEVEL_STAMP]
    assert (build / rtl_runner.LEVEL_STAMP).read_text().strip() == "-Os"
