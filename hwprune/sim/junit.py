"""``hwprune sim --junit-xml FILE``: the verdicts as a JUnit XML report, one ``<testcase>`` per layer
and per network check, so a CI server shows which layer regressed and its first mismatch.

Why JUnit: every CI system (GitHub Actions, GitLab, Jenkins) reads it without a plug-in. Written with
``xml.etree.ElementTree`` into a temporary file beside ``FILE`` and moved over it, so a CI step never
reads half a report (and an earlier report survives a run that died).
"""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from hwprune.errors import HwpruneError
from hwprune.sim.bundle import LayerReport

__all__ = ["JUnitCase", "cases_of", "write_junit"]


@dataclass(frozen=True)
class JUnitCase:
    """One ``<testcase>``: ``failure`` is the failure text (None when it passed)."""

    classname: str
    name: str
    seconds: float
    failure: str | None = None


def _failure(report: LayerReport) -> str:
    return report.mismatch or f"{report.name}: FAILED (see {report.log})"


def cases_of(reports: Sequence[LayerReport], classname: str) -> list[JUnitCase]:
    """A layer (or token selector) is one case, its timed and backpressure replays together; the
    network top is one case per cocotb test (``network top timed``, ``network top backpressure``), the
    timed one also failing on a value or cycle the trace shows wrong."""
    cases = []
    for report in reports:
        if report.kind != "network":
            label = "layer" if report.kind == "layer" else report.kind
            cases.append(JUnitCase(classname, f"{label} {report.name} rtl", report.seconds,
                                   None if report.ok else _failure(report)))
            continue
        if not report.checks:  # no results file: the simulator did not run the tests
            cases.append(JUnitCase(classname, "network top", report.seconds, _failure(report)))
        for check in report.checks:
            failure = report.mismatches.get(check.name)
            if failure is None and not check.passed:
                failure = check.message or _failure(report)
            cases.append(JUnitCase(classname, f"network top {check.name}", check.seconds, failure))
    return cases


def write_junit(path: Path, cases: Sequence[JUnitCase], suite: str) -> Path:
    """Write ``cases`` as one ``<testsuite name=suite>`` into ``path``, atomically (temporary file in the
    same directory, then ``os.replace``). A path that cannot be written is the user's error."""
    path = Path(path)
    failures = sum(c.failure is not None for c in cases)
    seconds = sum(c.seconds for c in cases)
    root = ET.Element("testsuites", name="hwprune sim", tests=str(len(cases)), failures=str(failures),
                      errors="0", time=f"{seconds:.3f}")
    element = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)), failures=str(failures),
                            errors="0", skipped="0", time=f"{seconds:.3f}")
    for case in cases:
        item = ET.SubElement(element, "testcase", classname=case.classname, name=case.name,
                             time=f"{case.seconds:.3f}")
        if case.failure is not None:
            failure = ET.SubElement(item, "failure", message=case.failure, type="mismatch")
            failure.text = case.failure
    ET.indent(root)
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(handle, "wb") as stream:
            ET.ElementTree(root).write(stream, encoding="utf-8", xml_declaration=True)
        os.replace(temporary, path)
    except OSError as error:
        if "temporary" in locals():
            Path(temporary).unlink(missing_ok=True)
        raise HwpruneError(f"cannot write the JUnit report: {error.strerror or error}", file=path) from None
    return path
