"""``hwprune explore``: the Pareto set, determinism across executors (inline, process pool, Ray),
agreement with ``hwprune compile`` on the same configuration, the CLI, options and errors."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from hwprune.errors import ConfigError, HwpruneError
from hwprune.explore import ExploreConfig, dominates, load_explore_config, pareto_indices, run_explore

SMALL = dict(board="zcu104", patterns=("dense", "nm", "bank_balanced:banks=8"), sparsities=(0.5,),
             lanes=(0, 4), weight_bits=(8, 4))
"""Twelve points (three pruned models): enough for a front with dominated points, seconds of work."""


@pytest.fixture(scope="module")
def eval_data(tmp_path_factory, digits) -> Path:
    path = tmp_path_factory.mktemp("explore-data") / "eval.npz"
    np.savez(path, x=digits.x_test[:120], y=digits.y_test[:120])
    return path


@pytest.fixture(scope="module")
def inline_run(tmp_path_factory, examples_dir, eval_data):
    """The sweep run in this process (workers=1): the reference the pool and Ray runs must equal."""
    out = tmp_path_factory.mktemp("explore-inline")
    config = ExploreConfig(**SMALL, eval_data=str(eval_data), workers=1)
    return run_explore(examples_dir / "mlp_digits.onnx", config, out)


def _brute_force_front(points: list[dict], keys: tuple[str, ...]) -> list[int]:
    fitting = [p for p in points if p["fits"]]
    return [p["index"] for p in fitting
            if not any(all(q[k] <= p[k] for k in keys) and any(q[k] < p[k] for k in keys) for q in fitting)]


def test_dominance_and_front_on_hand_made_points():
    assert dominates((1, 2), (1, 3)) and not dominates((1, 3), (1, 3)) and not dominates((0, 4), (1, 3))
    points = [
        {"index": 0, "fits": True, "a": 1, "b": 5},
        {"index": 1, "fits": True, "a": 2, "b": 2},
        {"index": 2, "fits": True, "a": 2, "b": 2},   # a tie: both stay
        {"index": 3, "fits": True, "a": 3, "b": 2},   # dominated by 1
        {"index": 4, "fits": False, "a": 0, "b": 0},  # does not fit: never on the front
        {"index": 5, "fits": True, "a": 5, "b": 1},
    ]
    assert pareto_indices(points, ("a", "b")) == [0, 1, 2, 5]


def test_sweep_finds_the_pareto_set(inline_run):
    data = inline_run.data
    points = data["points"]
    assert [p["index"] for p in points] == list(range(12))
    assert [(p["pattern"], p["sparsity"], p["weight_bits"], p["lanes"]) for p in points[:6]] == [
        ("dense", 0.0, 8, 0), ("dense", 0.0, 8, 4), ("dense", 0.0, 4, 0), ("dense", 0.0, 4, 4),
        ("nm", 0.5, 8, 0), ("nm", 0.5, 8, 4)]
    assert {p["pattern"] for p in points[8:]} == {"bank_balanced:banks=8"}
    assert all(p["fits"] for p in points)
    assert data["objectives"] == ["interval_cycles", "resource_cost", "accuracy_loss"]
    assert data["pareto"] == _brute_force_front(points, tuple(data["objectives"]))
    assert len(data["pareto"]) >= 2  # (every point may be on the front: each trades interval, cost or loss)
    # the pruned points really are pruned, and at the same lanes as fast and smaller than the dense one:
    # a dense layer may be laid out in groups of one input (a MAC unit each), so both reach the interval
    # the streams between the layers allow, the N:M one with half the multipliers
    dense, nm = points[1], points[5]
    assert dense["achieved_sparsity"] == 0.0 and nm["achieved_sparsity"] == 0.5
    assert nm["interval_cycles"] <= dense["interval_cycles"]
    assert nm["resources"]["dsp"] * 1.5 <= dense["resources"]["dsp"]
    assert nm["resources"]["lut"] < dense["resources"]["lut"]
    assert all(layer["lanes"] == min(4, layer_out) for layer, layer_out in zip(dense["layers"], (64, 32, 10)))
    # the unpruned 8-bit design loses (almost) nothing; accuracy loss is float baseline - integer top-1
    assert data["baseline"]["samples"] == 120
    for p in points:
        loss = data["baseline"]["float_top1"] - p["accuracy"]["integer_top1"]
        assert p["accuracy_loss"] == pytest.approx(loss)
    assert abs(points[0]["accuracy_loss"]) <= 2.0
    png = (inline_run.out_dir / "pareto.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


def test_dense_point_matches_a_compile_of_the_same_model(inline_run, examples_dir, tmp_path):
    """The explore point with the fitter's choice is what ``hwprune compile`` builds (lanes, cycles)."""
    from hwprune.config import CompileConfig
    from hwprune.flow import compile_model
    from hwprune.lower.fitting import layer_interval
    from hwprune.lower.network_cycles import network_timing
    from hwprune.lower.network_plan import plan_network

    ctx = compile_model(examples_dir / "mlp_digits.onnx", tmp_path / "b",
                        CompileConfig(board="zcu104", stop_after="lower", estimate=False))
    point = inline_run.data["points"][0]
    assert [(k.lanes, k.macs_per_lane) for k in ctx.kernels] == \
        [(layer["lanes"], layer["macs_per_lane"]) for layer in point["layers"]]
    assert [layer_interval(k) for k in ctx.kernels] == [layer["interval_cycles"] for layer in point["layers"]]
    assert point["cycle_model"] == "network"
    assert point["interval_cycles"] == network_timing(plan_network(ctx.qgraph, ctx.kernels, "t")).interval
    assert point["interval_cycles"] >= max(layer_interval(k) for k in ctx.kernels)
    assert point["latency_cycles"] > point["interval_cycles"]


def test_local_process_pool_gives_the_same_bytes(inline_run, examples_dir, eval_data, tmp_path):
    config = ExploreConfig(**SMALL, eval_data=str(eval_data), workers=2)
    result = run_explore(examples_dir / "mlp_digits.onnx", config, tmp_path)
    assert result.data["pareto"] == inline_run.data["pareto"]
    for name in ("explore.json", "pareto.png"):
        assert (tmp_path / name).read_bytes() == (inline_run.out_dir / name).read_bytes(), name


def test_local_ray_instance_gives_the_same_explore_json(inline_run, examples_dir, eval_data, tmp_path,
                                                       monkeypatch):
    """``--ray local`` starts a 2-CPU Ray instance whose session files live under tmp_path (through a
    short link: Ray's socket paths must stay under 108 bytes)."""
    import ray

    (tmp_path / "ray").mkdir()
    link = Path(tempfile.mkdtemp(prefix="hwr", dir="/tmp")) / "r"
    link.symlink_to(tmp_path / "ray")
    monkeypatch.setenv("RAY_TMPDIR", str(link))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # no token file written under ~/.ray
    try:
        config = ExploreConfig(**SMALL, eval_data=str(eval_data), workers=2, ray="local")
        run_explore(examples_dir / "mlp_digits.onnx", config, tmp_path / "out")
    finally:
        link.unlink()
        link.parent.rmdir()
    assert not ray.is_initialized(), "the instance explore started must be shut down"
    assert any((tmp_path / "ray").iterdir()), "Ray's session directory went elsewhere"
    reference = (inline_run.out_dir / "explore.json").read_bytes()
    assert (tmp_path / "out" / "explore.json").read_bytes() == reference


def test_yosys_on_the_pareto_points(tmp_path):
    """--yosys synthesizes each Pareto point's kernels (a one-layer model keeps this quick)."""
    import onnx
    from onnx_builders import gemm

    model = tmp_path / "tiny.onnx"
    onnx.save(gemm(np.random.default_rng(0), 16, 4, trans_b=1), model)
    calibration = np.random.default_rng(1).standard_normal((16, 16)).astype(np.float32)
    np.savez(tmp_path / "calibration.npz", x=calibration)
    config = ExploreConfig(board="pynq-z2", patterns=("dense", "nm"), sparsities=(0.5,), lanes=(1,),
                           weight_bits=(8,), workers=1, yosys=True)
    result = run_explore(model, config, tmp_path / "out")
    assert result.data["pareto"], "no Pareto point"
    for p in result.points:
        assert ("yosys" in p) == (p["index"] in result.data["pareto"])
    for p in result.pareto:
        assert p["yosys"]["family"] == "xc7" and p["yosys"]["lut"] > 0
        assert p["yosys"]["dsp"] == p["resources"]["dsp"]  # the analytic DSP count is exact (resource_model.py)


def test_cli_prints_the_pareto_set_and_writes_files(examples_dir, tmp_path, capsys):
    from hwprune.cli import main

    code = main(["explore", str(examples_dir / "mlp_digits.onnx"), "-b", "pynq-z2", "-o", str(tmp_path),
                 "-p", "dense", "-p", "nm", "-s", "0.5", "--lanes", "4", "--weight-bits", "8", "-j", "1"])
    out = capsys.readouterr().out
    assert code == 0, out
    data = json.loads((tmp_path / "explore.json").read_text())
    assert len(data["points"]) == 2 and data["board"]["part"] == "xc7z020clg400-1"
    assert f"{len(data['pareto'])} on the Pareto set of interval_cycles, resource_cost" in out
    assert (tmp_path / "pareto.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["-b", "nope"], "unknown board 'nope'"),
    (["-p", "diagonal"], "unknown pattern 'diagonal'"),
    (["-p", "nm:k=3"], "pattern 'nm' has no parameter 'k'"),
    (["-s", "1.5"], "sparsities must be numbers in [0, 1), not 1.5"),
    (["--weight-bits", "1"], "weight_bits must be integers in 2..16, not 1"),
    (["--calibration", "missing.npz"], "no calibration data"),
    (["--ray", "ray://127.0.0.1:1"], "cannot connect to Ray at 'ray://127.0.0.1:1'"),
])
def test_cli_errors_are_one_line(args, message, examples_dir, tmp_path, capsys):
    from hwprune.cli import main

    base = ["explore", str(examples_dir / "mlp_digits.onnx"), "-o", str(tmp_path / "o"), "-p", "dense",
            "--lanes", "4", "--weight-bits", "8", "-j", "1"]
    code = main(base + args)
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "o" / "explore.json").exists()


def test_config_file_sets_the_same_fields(tmp_path):
    path = tmp_path / "explore.yaml"
    path.write_text("board: kv260\npatterns: [nm, 'balanced_stochastic:group_size=16']\nlanes: [0, 8]\n")
    config = load_explore_config(path)
    assert config.board == "kv260" and config.lanes == (0, 8)
    assert [c.label for c in config.pattern_choices()] == ["nm", "balanced_stochastic:group_size=16"]
    path.write_text("board: kv260\nlane: [4]\n")
    with pytest.raises(ConfigError, match=r"unknown keys \['lane'\]"):
        load_explore_config(path)
    with pytest.raises(HwpruneError, match="patterns must be a non-empty list"):
        ExploreConfig(patterns=())


def test_unsupported_model_fails_once_with_the_frontend_message(tmp_path, capsys):
    from hwprune.cli import main

    corpus = Path(__file__).resolve().parent.parent / "corpus"
    code = main(["explore", str(corpus / "unsupported_op.onnx"), "-o", str(tmp_path), "-j", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "(Softsign): op type Softsign is not supported" in err and err.count("\n") == 1, err
    assert not (tmp_path / "explore.json").exists()
