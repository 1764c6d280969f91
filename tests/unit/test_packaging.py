"""The wheel: every package listed, shipped trees inside, and a compile that works outside the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_directory_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "hwprune").rglob("__init__.py")
    }
    assert found <= listed, f"add these to [tool.setuptools] packages: {sorted(found - listed)}"


@pytest.mark.slow
def test_installed_wheel_compiles_an_example_outside_the_checkout(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv*", ".git", "build", "*.egg-info",
                                                                "__pycache__", ".pytest_cache", ".hypothesis"))
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", str(source), "-w", str(wheels)],
                   check=True, cwd=tmp_path, capture_output=True)
    (wheel,) = wheels.glob("hwprune-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True,
                   capture_output=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(ROOT / "examples" / "mlp_digits.onnx", work)
    shutil.copy(ROOT / "examples" / "calibration.npz", work)
    script = (
        "import sys, hwprune, hwprune.resources as r\n"
        f"assert hwprune.__file__.startswith({str(target)!r}), hwprune.__file__\n"
        f"assert str(r.shipped_dir('boards')).startswith({str(target)!r})\n"
        "assert (r.shipped_dir('hls') / 'include' / 'hwprune' / 'hwprune.h').is_file()\n"
        "assert (r.shipped_dir('rtl') / 'verilator_waivers.vlt').is_file()\n"
        "assert (r.shipped_dir('sim') / 'hwprune_tb' / '__init__.py').is_file()\n"
        "from hwprune.cli import main\n"
        "sys.exit(main(['compile', 'mlp_digits.onnx', '--board', 'pynq-z2', '-o', 'out']))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run([sys.executable, "-c", script], cwd=work, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (work / "out" / "report.json").is_file()
    assert (work / "out" / "hls" / "run_hls.tcl").is_file()
