"""The progress display: shown only on a terminal, "step: layer k of n" and Yosys jobs, and never in
the output or the files of a compile (the golden digests pin those)."""

from __future__ import annotations

import io

from hwprune import flow, progress
from hwprune.config import CompileConfig
from hwprune.flow import compile_model


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def step(self, name, total=None):
        self.events.append(("step", name))

    def advance(self, done, of, what="", detail=""):
        self.events.append(("advance", done, of, what, detail))

    def finish(self):
        self.events.append(("finish",))


def test_no_display_unless_stderr_is_a_terminal(monkeypatch):
    assert isinstance(progress.for_terminal(io.StringIO()), progress.NullProgress)

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert isinstance(progress.for_terminal(Tty()), progress.RichProgress)
    monkeypatch.setenv("TERM", "dumb")
    assert isinstance(progress.for_terminal(Tty()), progress.NullProgress)


def test_rich_display_names_the_step_and_the_item():
    from rich.console import Console

    screen = io.StringIO()
    display = progress.RichProgress(Console(file=screen, force_terminal=True, width=100), delay=60)
    display.step("emit")
    display.advance(2, 3, "layer", "RTL")
    assert screen.getvalue() == ""  # not before the delay
    display.show()
    display.advance(4, 9, "Yosys jobs", "2 running")
    display.finish()
    text = screen.getvalue()
    assert "emit: layer 2 of 3 (RTL)" in text and "emit: Yosys jobs 4 of 9 (2 running)" in text
    assert progress.describe("estimate", 4, 9, "Yosys jobs", "2 running") == "estimate: Yosys jobs 4 of 9 (2 running)"


def test_compile_reports_every_step_and_layer(tmp_path, examples_dir):
    recorder = Recorder()
    with progress.reporting(recorder):
        # 4 lanes: small kernels, so the estimate step's Yosys jobs take seconds (its events are the same)
        ctx = compile_model(examples_dir / "mlp_digits.onnx", tmp_path / "b", CompileConfig(lanes=4))
    assert progress.current().__class__ is progress.NullProgress
    steps = [e[1] for e in recorder.events if e[0] == "step"]
    assert steps == flow.step_names()
    layers = len(ctx.kernels)
    advances = [e[1:] for e in recorder.events if e[0] == "advance"]
    assert [(k, n) for k, n, what, detail in advances if what == "layer" and not detail] == \
        [(k, layers) for k in range(1, layers + 1)]  # lowering
    assert [(k, n) for k, n, what, detail in advances if detail == "RTL"] == \
        [(k, layers) for k in range(1, layers + 1)]
    assert recorder.events[-1] == ("finish",)
