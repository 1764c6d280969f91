"""report.html in a real browser: Debian's headless Chromium loads it with no console message and
shows every section; a screenshot is taken. ``tools/setup.sh`` installs Chromium, so this never skips.

Console messages reach stderr through ``--enable-logging=stderr --v=0`` as ``…:CONSOLE…] "text"``
lines; the page has no script, so any such line (an uncaught error, a failed resource) is a failure.
A control page with a deliberate error proves the check can fail.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hwprune.config import CompileConfig
from hwprune.report.html import SECTIONS

from shared_builds import shared_build

pytestmark = pytest.mark.sim

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CONSOLE = re.compile(r":CONSOLE[:(\]].*|Uncaught .*|console\(ERROR\).*")


def chromium() -> str:
    path = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    assert path, "Chromium is not installed: run tools/setup.sh (installs Debian's chromium)"
    return path


def run_chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [chromium(), *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *extra,
               page.resolve().as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=profile)


def console_messages(stderr: str) -> list[str]:
    return [m.group(0) for line in stderr.splitlines() if (m := CONSOLE.search(line))]


class Dom(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.images = 0
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids.update(v for k, v in attrs if k == "id" and v)
        self.images += tag == "img"


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory, examples_dir: Path) -> dict[str, Path]:
    """The builds of tests/unit/test_report_html.py (compiled once per run, shared, read-only)."""
    builds = {"cnn": ("cnn_digits.onnx", CompileConfig()),
              "pruned": ("mlp_digits_pruned_qonnx.onnx",
                         CompileConfig(calibration="examples/calibration.npz"))}
    return {name: shared_build(tmp_path_factory, examples_dir / model, config, html=True) / "report.html"
            for name, (model, config) in builds.items()}


@pytest.mark.parametrize("name", ["cnn", "pruned"])
def test_page_loads_without_console_errors(reports: dict[str, Path], name: str, tmp_path: Path) -> None:
    result = run_chromium(reports[name], tmp_path, "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert console_messages(result.stderr) == []
    dom = Dom(result.stdout)
    assert {sid for sid, _ in SECTIONS} | {"accuracy", "yosys-estimates"} <= dom.ids
    assert dom.images == Dom(reports[name].read_text(encoding="utf-8")).images >= 3


def test_screenshot(reports: dict[str, Path], tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "report.png"
    result = run_chromium(reports["pruned"], tmp_path, "--hide-scrollbars", "--window-size=1200,3000",
                          f"--screenshot={shot}")
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1200, 3000)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text, tables and plots, not a blank page


def test_console_check_catches_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><section id="x"></section>'
                   '<script>throw new Error("deliberate");</script></body></html>', encoding="utf-8")
    result = run_chromium(bad, tmp_path, "--dump-dom")
    assert any("Uncaught Error: deliberate" in m for m in console_messages(result.stderr))
