"""Without the keras extra (the main venv has no TensorFlow), a Keras model fails with one line that
names the extra to install; format detection itself needs no TensorFlow."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hwprune.cli import main
from hwprune.errors import HwpruneError
from hwprune.frontend import import_model
from hwprune.frontend.keras import MissingExtraError, is_keras_path, model_digest

HINT = "pip install 'hwprune[keras]'"


@pytest.fixture
def no_tensorflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import tensorflow`` fail as it does in the main venv, whichever venv runs this test."""
    for module in ("tensorflow", "tf_keras", "qkeras", "qkeras.utils"):
        monkeypatch.setitem(sys.modules, module, None)


def test_main_venv_has_no_tensorflow() -> None:
    import importlib.util

    assert importlib.util.find_spec("tensorflow") is None, "TensorFlow belongs in .venv-keras only"


@pytest.mark.parametrize("name", ["model.h5", "model.hdf5", "model.keras", "MODEL.H5"])
def test_keras_file_names_the_extra(name: str, tmp_path: Path, no_tensorflow: None) -> None:
    model = tmp_path / name
    model.write_bytes(b"\x89HDF\r\n\x1a\n")
    with pytest.raises(MissingExtraError) as info:
        import_model(str(model))
    assert isinstance(info.value, HwpruneError)
    assert str(info.value) == (f"{model}: reading Keras/QKeras models needs TensorFlow, tf-keras and QKeras "
                               f"(tensorflow is not installed): {HINT}")


def test_cli_prints_one_line_and_exits_2(tmp_path: Path, no_tensorflow: None, capsys) -> None:
    saved = tmp_path / "exported"  # a SavedModel directory: detected by its saved_model.pb
    (saved / "variables").mkdir(parents=True)
    (saved / "saved_model.pb").write_bytes(b"\x08\x01")
    out = tmp_path / "build"
    assert main(["compile", str(saved), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"hwprune: error: {saved}: ")
    assert err.rstrip().endswith(HINT)
    assert not out.exists()


def test_format_detection_and_digest(tmp_path: Path) -> None:
    (tmp_path / "sm").mkdir()
    assert not is_keras_path(tmp_path / "sm")
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"a")
    (tmp_path / "sm" / "variables").mkdir()
    (tmp_path / "sm" / "variables" / "v.index").write_bytes(b"b")
    assert is_keras_path(tmp_path / "sm") and is_keras_path("x.keras") and is_keras_path("x.h5")
    assert not is_keras_path("x.onnx") and not is_keras_path(tmp_path)
    first = model_digest(tmp_path / "sm")
    (tmp_path / "sm" / "variables" / "v.index").write_bytes(b"c")
    assert model_digest(tmp_path / "sm") != first
