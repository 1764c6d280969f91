"""``hwprune explore``: sweep pattern × sparsity × weight bits × lanes on one model for one board,
keep the Pareto set of (cycles, resources, accuracy loss), and write explore.json + pareto.png.

explore.json holds only what the inputs determine (no times, no absolute paths, no worker count),
so the same model, options and seed give the same bytes on a laptop pool and on a Ray cluster.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwprune import __version__
from hwprune.errors import ConfigError, HwpruneError
from hwprune.explore.config import ExploreConfig
from hwprune.explore.pareto import objectives_for, pareto_indices
from hwprune.explore.point import ROUND, Job, evaluate_job, synthesize_point
from hwprune.explore.runner import Progress, run_all

__all__ = ["ExploreResult", "make_jobs", "run_explore", "EXPLORE_JSON", "PARETO_PNG"]

log = logging.getLogger(__name__)

EXPLORE_JSON, PARETO_PNG = "explore.json", "pareto.png"


@dataclass
class ExploreResult:
    """The written files and the data in them."""

    out_dir: Path
    data: dict[str, Any]

    @property
    def points(self) -> list[dict[str, Any]]:
        return list(self.data["points"])

    @property
    def pareto(self) -> list[dict[str, Any]]:
        chosen = set(self.data["pareto"])
        return [p for p in self.data["points"] if p["index"] in chosen]


def _calibration(model: Path, config: ExploreConfig) -> Path:
    from hwprune.flow import DEFAULT_CALIBRATION

    path = Path(config.calibration) if config.calibration else model.parent / DEFAULT_CALIBRATION
    if not path.is_file():
        raise ConfigError(f"no calibration data: give --calibration FILE.npz or put {DEFAULT_CALIBRATION} "
                          "beside the model", file=path if config.calibration else model)
    return path


def make_jobs(model: Path, config: ExploreConfig, calibration: Path) -> list[Job]:
    """One job per (pattern, sparsity) in sweep order; ``dense`` gets one job at sparsity 0."""
    jobs: list[Job] = []
    index = 0
    for choice in config.pattern_choices():
        for sparsity in ([0.0] if choice.name == "dense" else sorted(set(config.sparsities))):
            job = Job(index, str(model), str(calibration), config.eval_data, config.board, choice,
                      float(sparsity), tuple(config.weight_bits), tuple(config.lanes), config.act_bits,
                      float(config.max_util), config.seed)
            jobs.append(job)
            index += len(job.points())
    return jobs


def _baseline(graph: Any, eval_data: str) -> dict[str, float]:
    """Top-1 of the unpruned float model: the reference every point's accuracy loss is taken from."""
    import numpy as np

    from hwprune.evaluate import load_eval_data, reshape_for
    from hwprune.ir.execute import run_float

    x, y = load_eval_data(eval_data)
    logits = run_float(graph, {graph.inputs[0]: reshape_for(graph, x)})[graph.outputs[0]]
    return {"float_top1": round(float(np.mean(logits.argmax(axis=1) == y)) * 100, 4), "samples": int(len(y))}


def _synthesize_item(item: tuple[Job, int, int]) -> dict[str, Any]:
    job, bits, lanes = item
    return synthesize_point(job, bits, lanes)


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_inputs(model: Path, config: ExploreConfig) -> tuple[Any, Any]:
    """The board and the imported model, so a bad model fails once, here, with its own message."""
    from hwprune.boards import load_board
    from hwprune.frontend import import_model

    board = load_board(config.board)
    if not model.is_file():
        raise ConfigError("model file not found" if not model.exists() else "not a file", file=model)
    if config.eval_data is not None and not Path(config.eval_data).is_file():
        raise ConfigError("evaluation data not found", file=config.eval_data)
    return board, import_model(str(model))


def run_explore(model: str | Path, config: ExploreConfig, out_dir: str | Path,
                progress: Progress | None = None) -> ExploreResult:
    """Run the sweep (see the module doc) and write ``out_dir/explore.json`` and ``pareto.png``."""
    from hwprune.explore.plot import pareto_png

    model, out_dir = Path(model), Path(out_dir)
    board, graph = _check_inputs(model, config)
    calibration = _calibration(model, config)
    baseline = _baseline(graph, config.eval_data) if config.eval_data else None
    jobs = make_jobs(model, config, calibration)
    points = [p for group in run_all(evaluate_job, jobs, workers=config.workers, ray=config.ray,
                                     progress=progress) for p in group]
    points.sort(key=lambda p: p["index"])
    if baseline is not None:
        for p in points:
            if "accuracy" in p:
                p["accuracy_loss"] = round(baseline["float_top1"] - p["accuracy"]["integer_top1"], ROUND)
    objectives = objectives_for(baseline is not None)
    front = pareto_indices(points, objectives)
    if config.yosys and front:
        owner = {i: (job, bits, lanes) for job in jobs for i, bits, lanes in job.points()}
        totals = run_all(_synthesize_item, [owner[i] for i in front], workers=config.workers, ray=config.ray,
                         progress=progress)
        for index, total in zip(front, totals):
            points[index]["yosys"] = total
    data = {
        "hwprune_version": __version__,
        "model": {"file": model.name, "sha256": hashlib.sha256(model.read_bytes()).hexdigest()},
        "board": {"name": board.name, "part": board.part, "pl_clock_mhz": board.pl_clock_mhz},
        "sweep": {"patterns": [c.label for c in config.pattern_choices()],
                  "sparsities": sorted(set(config.sparsities)), "weight_bits": list(config.weight_bits),
                  "lanes": list(config.lanes), "act_bits": config.act_bits, "max_util": config.max_util,
                  "seed": config.seed, "calibration": calibration.name,
                  "eval_data": Path(config.eval_data).name if config.eval_data else None},
        "objectives": list(objectives),
        "baseline": baseline,
        "points": points,
        "pareto": front,
        "yosys": bool(config.yosys),
    }
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HwpruneError(f"cannot create the output directory: {exc.strerror}", file=out_dir) from None
    _write_atomic(out_dir / EXPLORE_JSON, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())
    _write_atomic(out_dir / PARETO_PNG, pareto_png(data))
    return ExploreResult(out_dir, data)
