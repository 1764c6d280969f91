"""``ci/`` of a build directory: a GitHub Actions workflow and a GitLab CI job that install hwprune and run
``hwprune sim BUILD --junit-xml FILE`` (and ``--hls`` for an FPGA build), publishing the JUnit report, so
a user's CI reruns the build's verification with no hand-written glue.

Why templates with fixed values: the files must be byte-identical for identical inputs, so the build
path they name is the default one (``build/<model>/<board>``, ``HWPRUNE_BUILD`` in the file; the user
sets it when the build lives elsewhere), never the path this compile wrote to. Texts are Jinja2
templates in ``hwprune/sim/templates/``.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from hwprune import __version__
from hwprune.backends.rtl.emit import banner

__all__ = ["CI_DIR", "CI_FILES", "JUNIT_FILE", "HLS_JUNIT_FILE", "TORCH_REQUIREMENT", "PYTHON", "write_ci"]

CI_DIR = "ci"
CI_FILES = {"github-actions.yml": "GitHub Actions workflow", "gitlab-ci.yml": "GitLab CI job"}
"""File written into ``ci/`` (from ``<name>.j2``) -> what it is."""
JUNIT_FILE = "hwprune-sim.xml"
HLS_JUNIT_FILE = "hwprune-hls.xml"
TORCH_REQUIREMENT = "torch>=2.6,<2.14"
"""pyproject.toml's torch range, installed from PyTorch's CPU index first (else pip pulls GBs of CUDA)."""
PYTHON = "3.11"


def _environment() -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(str(Path(__file__).resolve().parent / "templates"))
    return jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True, autoescape=False)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def write_ci(build_dir: Path, model: str, board: str, source: str, hls: bool) -> list[Path]:
    """Write ``build_dir/ci/*`` for a build of ``model`` (its stem) for ``board``; ``hls``: the build has
    an HLS project, whose C-simulation the jobs run too. Returns the files written."""
    out = Path(build_dir) / CI_DIR
    out.mkdir(parents=True, exist_ok=True)
    env = _environment()
    written = []
    for name, what in CI_FILES.items():
        context = {"banner": banner(what, source), "build": f"build/{model}/{board}", "version": __version__,
                   "torch": TORCH_REQUIREMENT, "python": PYTHON, "junit": JUNIT_FILE, "hls_junit": HLS_JUNIT_FILE,
                   "hls": hls}
        path = out / name
        _write_atomically(path, env.get_template(f"{name}.j2").render(context))
        written.append(path)
    return written
