"""The generated bring-up notebook runs headlessly (nbclient) on the simulation transport for the
compiled example MLP: golden vectors through the Verilator-simulated RTL, bit-exact, throughput
printed; and ``driver.py`` does the same from the command line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def board_dir(tmp_path_factory, examples_dir) -> Path:
    from hwprune.config import CompileConfig
    from hwprune.flow import compile_model

    out = tmp_path_factory.mktemp("bringup-sim") / "mlp"
    compile_model(examples_dir / "mlp_digits.onnx", out, CompileConfig(board="zcu104", estimate=False))
    return out / "board"


def _jupyter_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jupyter and IPython keep runtime files and profiles under ~: point them into tmp_path."""
    for variable, name in (("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"),
                           ("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                           ("MPLCONFIGDIR", "mpl")):
        (tmp_path / name).mkdir()
        monkeypatch.setenv(variable, str(tmp_path / name))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")


def test_notebook_streams_the_golden_vectors_bit_exactly(board_dir, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    _jupyter_env(tmp_path, monkeypatch)
    before = (board_dir / "bringup.ipynb").read_bytes()
    notebook = nbformat.read(board_dir / "bringup.ipynb", as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(board_dir)}}).execute()
    text = "".join(out.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for out in cell.outputs)
    assert "through the simulation transport" in text, text
    vectors = json.loads((board_dir / "golden.json").read_text())["vectors"]
    assert vectors >= 32
    assert f"all {vectors} vectors bit-exact against the integer reference" in text, text
    rate = re.search(r"throughput: ([\d,]+) inferences/s", text)
    assert rate and int(rate.group(1).replace(",", "")) > 0, text
    cycles = re.search(r"simulated (\d+) cycles at 100 MHz; the cycle model predicts (\d+); every output "
                       r"beat on its predicted cycle", text)
    assert cycles and int(cycles.group(1)) == int(cycles.group(2)) > 0, text
    assert (board_dir / "bringup.ipynb").read_bytes() == before, "executing must not rewrite the notebook"


def test_driver_command_line_on_the_simulation(board_dir):
    result = subprocess.run([sys.executable, str(board_dir / "driver.py"), "--transport", "simulation"],
                            capture_output=True, text=True, cwd=board_dir.parent.parent, timeout=600,
                            env={**os.environ})
    assert result.returncode == 0, result.stderr
    vectors = json.loads((board_dir / "golden.json").read_text())["vectors"]
    assert result.stdout.startswith(f"simulation: {vectors} vectors bit-exact;"), result.stdout
    assert ": every beat on time)" in result.stdout, result.stdout
