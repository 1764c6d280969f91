"""Example builds compiled once per test run and shared by every test (and every pytest-xdist worker)
that asks for the same model and options. Why: the report, browser and other read-only checks of the
same build each compiled it again (a cold CNN compile with estimates is most of a minute on two cores).

The build directory is read-only by contract: a test that changes a build copies it first."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

import pytest

from hwprune.cache import exclusive
from hwprune.config import CompileConfig


def _run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This run's directory shared by its workers: xdist gives each worker ``<run>/popen-gwN``."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared_build(tmp_path_factory: pytest.TempPathFactory, model: Path, config: CompileConfig,
                 html: bool = False) -> Path:
    """The build of ``model`` with ``config`` (plus report.html with ``html``), compiled by the first test
    of the run that asks for it; the others wait on its lock and reuse the directory."""
    from hwprune.flow import compile_model

    key = hashlib.sha256(json.dumps([str(model), asdict(config), html], sort_keys=True).encode()).hexdigest()[:16]
    root = _run_root(tmp_path_factory) / "shared-builds"
    root.mkdir(parents=True, exist_ok=True)
    build = root / f"{model.stem}-{key}" / "build"
    with exclusive(root / f"{key}.lock"):
        if not (build.parent / "complete").exists():
            compile_model(model, build, config)
            if html:
                from hwprune.report.html import write_html_report

                write_html_report(build)
            (build.parent / "complete").write_text("ok\n")
    return build
