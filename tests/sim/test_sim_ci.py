"""``ci/`` of a build: the GitHub Actions workflow and the GitLab CI job parse as YAML, install hwprune at
this version (torch from the CPU index, in pyproject.toml's range), and their ``hwprune sim`` command lines,
run as written by a shell with HWPRUNE_BUILD pointing at a real build, exit 0 and leave the JUnit reports
that their publishing steps name."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from hwprune import __version__
from hwprune.sim.ci import TORCH_REQUIREMENT, write_ci
from sim_builds import copy_build

pytestmark = pytest.mark.sim

ROOT = Path(__file__).resolve().parents[2]


def github(build: Path) -> tuple[dict, list[str]]:
    """(the job's env, every line of its ``run:`` steps)."""
    workflow = yaml.safe_load((build / "ci" / "github-actions.yml").read_text())
    assert set(workflow.get("on", workflow.get(True))) == {"push", "pull_request"}  # YAML 1.1 reads `on` as True
    (job,) = workflow["jobs"].values()
    lines = [line for step in job["steps"] if "run" in step for line in step["run"].splitlines()]
    return job, lines


def gitlab(build: Path) -> tuple[dict, list[str]]:
    (job,) = yaml.safe_load((build / "ci" / "gitlab-ci.yml").read_text()).values()
    return job, [*job["before_script"], *job["script"]]


def test_both_jobs_install_this_hwprune_and_publish_what_hwprune_sim_writes(mlp_digits_build: Path) -> None:
    job, lines = github(mlp_digits_build)
    gl_job, gl_lines = gitlab(mlp_digits_build)
    assert job["env"]["HWPRUNE_BUILD"] == gl_job["variables"]["HWPRUNE_BUILD"] == "build/mlp_digits/zcu102"
    for commands in (lines, gl_lines):
        assert f'pip install "hwprune=={__version__}"' in commands
        assert f'pip install "{TORCH_REQUIREMENT}" --index-url https://download.pytorch.org/whl/cpu' in commands
        assert [c for c in commands if c.startswith("hwprune sim")] == [
            'hwprune sim "$HWPRUNE_BUILD" $HWPRUNE_SIM_ARGS --junit-xml hwprune-sim.xml',
            'hwprune sim "$HWPRUNE_BUILD" --hls --junit-xml hwprune-hls.xml']
    # pull / merge requests get the quick check
    assert job["env"]["HWPRUNE_SIM_ARGS"] == "${{ github.event_name == 'pull_request' && '--quick' || '' }}"
    assert gl_job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"',
                                "variables": {"HWPRUNE_SIM_ARGS": "--quick"}}, {"when": "on_success"}]
    torch = next(d for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
                 if d.startswith("torch"))
    assert TORCH_REQUIREMENT == torch
    publish = next(step for step in job["steps"] if step.get("uses", "").startswith("mikepenz/action-junit-report"))
    assert publish["with"]["report_paths"] == "hwprune-sim.xml,hwprune-hls.xml"
    assert gl_job["artifacts"]["reports"]["junit"] == ["hwprune-sim.xml", "hwprune-hls.xml"]
    assert gl_job["artifacts"]["when"] == "always"


@pytest.mark.parametrize("event", ["push", "pull request"])
def test_the_hwprune_sim_lines_of_the_jobs_run_as_written_and_pass(mlp_digits_build: Path, tmp_path: Path,
                                                                   event: str) -> None:
    build = copy_build(mlp_digits_build, f"ci-run-{event.replace(' ', '-')}")
    commands = [c for c in github(build)[1] if c.startswith("hwprune sim")]
    assert commands == [c for c in gitlab(build)[1] if c.startswith("hwprune sim")]
    env = {**os.environ, "HWPRUNE_BUILD": str(build),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    env.pop("PYTEST_CURRENT_TEST", None)
    env.pop("HWPRUNE_SIM_ARGS", None)
    if event == "pull request":
        env["HWPRUNE_SIM_ARGS"] = "--quick"
    full = ["layer /fc0/Gemm rtl", "layer /fc1/Gemm rtl", "layer /fc2/Gemm rtl", "network top timed",
            "network top backpressure"]
    expected = {"hwprune-sim.xml": full if event == "push" else ["network top timed"],
                "hwprune-hls.xml": ["hls csim"]}
    for command in commands:
        result = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=900)
        assert result.returncode == 0, (command, result.stdout[-2000:], result.stderr[-2000:])
        report = command.split("--junit-xml ")[1]
        root = ET.parse(tmp_path / report).getroot()
        cases = list(root.iter("testcase"))
        assert [c.get("name") for c in cases] == expected[report]
        assert all(c.find("failure") is None and c.find("error") is None for c in cases)
        assert {c.get("classname") for c in cases} == {"hwprune.mlp_digits"}


def test_ci_files_are_deterministic_and_an_asic_build_gets_no_hls_job(tmp_path: Path) -> None:
    first = [p.read_bytes() for p in write_ci(tmp_path / "a", "m", "zcu102", "m.onnx", hls=True)]
    again = [p.read_bytes() for p in write_ci(tmp_path / "b", "m", "zcu102", "m.onnx", hls=True)]
    assert first == again and first[0].startswith(f"# Generated by hwprune {__version__} from m.onnx".encode())
    asic = write_ci(tmp_path / "c", "m", "asic", "m.onnx", hls=False)
    assert sorted(p.name for p in asic) == ["github-actions.yml", "gitlab-ci.yml"]
    for path in asic:
        text = path.read_text()
        assert "--hls" not in text and "hwprune-hls.xml" not in text and "build/m/asic" in text
        yaml.safe_load(text)
    assert not list((tmp_path / "c" / "ci").glob(".*"))  # no temporary file left
