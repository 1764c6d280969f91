"""The compile pipeline: an explicit, ordered list of named steps, each leaving a checkpoint.

The build directory is assembled in a temporary sibling directory and renamed into place only when
every step succeeded, so a failure (or Ctrl-C) never leaves a half-written build and never touches
the previous one. An existing directory that is not an hwprune build is never overwritten.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from hwprune import __version__, progress, subprocesses
from hwprune.boards import Board, load_board
from hwprune.cache import exclusive
from hwprune.config import CompileConfig
from hwprune.errors import BuildError, ConfigError, QuantizationError
from hwprune.frontend.keras import is_saved_model_dir
from hwprune.ir.graph import Graph
from hwprune.lower.kernel_spec import KernelSpec

__all__ = ["BuildContext", "Step", "STEPS", "step_names", "compile_model", "BUILD_MARKER", "write_json"]

log = logging.getLogger(__name__)

BUILD_MARKER = ".hwprune-build"
DEFAULT_CALIBRATION = "calibration.npz"


@dataclass
class BuildContext:
    """What the steps share: inputs, the staging directory, and each step's result."""

    model_path: Path
    config: CompileConfig
    board: Board
    staging: Path
    graph: Graph | None = None
    qgraph: Graph | None = None
    kernels: list[KernelSpec] = field(default_factory=list)
    calibration: dict[str, np.ndarray] = field(default_factory=dict)
    emitted: dict[str, str] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    accuracy: dict[str, float] = field(default_factory=dict)

    def source_sha256(self) -> str:
        from hwprune.frontend.keras import model_digest  # a SavedModel source is a directory

        return model_digest(self.model_path)


@dataclass(frozen=True)
class Step:
    """One named stage; ``checkpoint`` is the file it writes into the build directory."""

    name: str
    checkpoint: str
    run: Callable[[BuildContext], None]
    doc: str


def write_json(path: Path, data: Any) -> None:
    """Deterministic JSON (sorted keys, fixed separators, trailing newline)."""
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _step_import(ctx: BuildContext) -> None:
    from hwprune.frontend import import_model
    from hwprune.prune.detect import annotate_patterns

    ctx.graph = import_model(str(ctx.model_path))
    annotate_patterns(ctx.graph)  # a pruned model's zeros carry its pattern; lowering needs it named
    (ctx.staging / "ir.json").write_text(ctx.graph.to_json(), encoding="utf-8")


def _calibration_path(ctx: BuildContext) -> str:
    if ctx.config.calibration is not None:
        return ctx.config.calibration
    beside = ctx.model_path.parent / DEFAULT_CALIBRATION
    if beside.is_file():
        return str(beside)
    raise QuantizationError(
        f"no calibration data: give --calibration FILE.npz or put {DEFAULT_CALIBRATION} beside the model",
        file=ctx.model_path,
    )


def _step_quantize(ctx: BuildContext) -> None:
    from hwprune.quant import QuantSpec, quantize_graph
    from hwprune.quant.calibrate import load_calibration

    assert ctx.graph is not None
    feeds = load_calibration(_calibration_path(ctx), ctx.graph)
    ctx.calibration = feeds
    spec = QuantSpec(weight_bits=ctx.config.weight_bits, act_bits=ctx.config.act_bits)
    ctx.qgraph = quantize_graph(ctx.graph, feeds, spec)
    (ctx.staging / "ir_quant.json").write_text(ctx.qgraph.to_json(), encoding="utf-8")
    if ctx.config.eval_data is not None:
        from hwprune.evaluate import evaluate_accuracy, load_eval_data

        x, y = load_eval_data(ctx.config.eval_data)
        ctx.accuracy = evaluate_accuracy(ctx.graph, ctx.qgraph, x, y)


def _step_lower(ctx: BuildContext) -> None:
    from hwprune.lower.fitting import fit_kernels
    from hwprune.lower.lowering import lower_graph
    from hwprune.lower.network_plan import stream_classes
    from hwprune.lower.network_resources import network_glue

    assert ctx.qgraph is not None
    kernels = lower_graph(ctx.qgraph)
    ctx.kernels = fit_kernels(kernels, ctx.board, ctx.config.max_util, lanes=ctx.config.lanes,
                              target_interval=ctx.config.target_interval,
                              fixed=network_glue(ctx.qgraph, kernels, ctx.board.yosys_family),
                              streams=stream_classes(ctx.qgraph, kernels), stream_width=ctx.config.stream_width)
    write_json(ctx.staging / "kernels.json", {"kernels": [k.to_dict() for k in ctx.kernels]})


GOLDEN_VECTORS = 32
"""Inputs (the first calibration samples) whose integer-reference outputs the build's testbenches check
(fewer when ``CompileConfig.vectors`` asks for fewer: ``vectors + 4``)."""


def _golden_inputs(ctx: BuildContext) -> np.ndarray:
    assert ctx.graph is not None
    return ctx.calibration[ctx.graph.inputs[0]][:min(GOLDEN_VECTORS, ctx.config.vectors + 4)]


def _step_emit(ctx: BuildContext) -> None:
    """RTL (Verilog + ROM images) with per-layer golden cases in ``sim/``; the HLS project (firmware,
    testbench, Vitis script) with network golden vectors in ``hls/`` (FPGA boards only); token selectors'
    RTL, HLS and golden sets and any other op with hardware of its own (``hwprune.backends.emitters``; a
    graph with token selectors gets per-layer HLS vectors)."""
    from hwprune.backends.emitters import EmitRequest, emitters_for
    from hwprune.backends.hls import write_hls
    from hwprune.sim.bundle import write_sim_bundle
    from hwprune.sim.csim import write_network_vectors

    assert ctx.qgraph is not None
    write_sim_bundle(ctx.kernels, ctx.staging, vectors=ctx.config.vectors, seed=ctx.config.seed,
                     source=ctx.model_path.name)
    ctx.emitted["rtl"] = f"rtl/ and sim/ ({len(ctx.kernels)} layers, each with its golden case)"
    if ctx.board.family == "asic":
        ctx.emitted["hls"] = "not emitted: the ASIC target has no Vitis HLS flow"
    else:
        write_hls(ctx.kernels, ctx.qgraph, ctx.board, ctx.staging / "hls", project=ctx.model_path.stem)
        count = write_network_vectors(ctx.staging / "hls", ctx.qgraph, _golden_inputs(ctx))
        ctx.emitted["hls"] = f"hls/ ({count} golden vectors)"
    emitters = emitters_for(ctx.qgraph)  # docs/tokens.md, "Compile"
    if emitters:
        request = EmitRequest(ctx.qgraph, ctx.staging, ctx.config.seed, ctx.model_path.name,
                              {ctx.graph.inputs[0]: _golden_inputs(ctx)}, ctx.board.family != "asic")
        for emit in emitters:
            key, line = emit(request)
            ctx.emitted[key] = line


def _step_estimate(ctx: BuildContext) -> None:
    """Yosys synthesis of every emitted kernel and of the network top's glue (cached by content hash)."""
    from hwprune.estimate.design import estimate_rtl

    if not ctx.config.estimate:
        return
    rtl = ctx.staging / "rtl"
    manifest = json.loads((rtl / "manifest.json").read_text(encoding="utf-8"))
    cache = Path(ctx.config.cache_dir).expanduser().resolve() / "yosys" if ctx.config.cache_dir else None
    ctx.resources = {"yosys": estimate_rtl(rtl, manifest, [k.name for k in ctx.kernels], ctx.board.yosys_family,
                                           kernels=ctx.kernels, full_synthesis=ctx.config.full_synthesis,
                                           cache_dir=cache, workers=ctx.config.jobs, progress=_yosys_progress)}
    write_json(ctx.staging / "estimate.json", ctx.resources)


def _yosys_progress(done: int, total: int, running: int) -> None:
    """``estimate_rtl``'s callback (from any thread): Yosys jobs finished, in all, running now."""
    progress.advance(done, total, "Yosys jobs", f"{running} running")


def _step_report(ctx: BuildContext) -> None:
    from hwprune.report.html import write_html_report
    from hwprune.report.summary import build_summary

    assert ctx.qgraph is not None
    summary = build_summary(ctx.qgraph, ctx.board, accuracy=ctx.accuracy, kernels=ctx.kernels)
    summary["emitted"] = dict(sorted(ctx.emitted.items()))
    summary["fit"] = {"max_util": ctx.config.max_util, "lanes": ctx.config.lanes,
                      "target_interval": ctx.config.target_interval}
    if ctx.resources:
        summary["resources"] = ctx.resources
    summary["hwprune_version"] = __version__
    summary["source"] = {"file": ctx.model_path.name, "sha256": ctx.source_sha256()}
    write_json(ctx.staging / "report.json", summary)
    write_html_report(ctx.staging)


def _step_bringup(ctx: BuildContext) -> None:
    """``board/``: Vivado block design, HLS entry point, PYNQ driver and notebook (``hwprune.bringup``)."""
    from hwprune.bringup import write_bringup

    write_bringup(ctx.staging, ctx.board, project=ctx.model_path.stem, source=ctx.model_path.name)


def _step_ci(ctx: BuildContext) -> None:
    """``ci/``: a GitHub Actions workflow and a GitLab CI job that rerun ``hwprune sim`` (``hwprune.sim.ci``)."""
    from hwprune.sim.ci import write_ci

    write_ci(ctx.staging, ctx.model_path.stem, ctx.config.board, ctx.model_path.name,
             hls=(ctx.staging / "hls" / "hls.json").is_file())


STEPS: list[Step] = [
    Step("import", "ir.json", _step_import,
         "parse the model, infer shapes, fold BatchNorm, check every op, recognise sparsity patterns"),
    Step("quantize", "ir_quant.json", _step_quantize, "PTQ to integers (docs/architecture.md section 3)"),
    Step("lower", "kernels.json", _step_lower, "one KernelSpec per layer: packed weights, lanes, cycles"),
    Step("emit", "rtl/ sim/ hls/", _step_emit, "write the RTL, the HLS C++ project and their golden vectors"),
    Step("estimate", "estimate.json", _step_estimate,
         "Yosys synthesis of every kernel and the network glue for the board's family"),
    Step("report", "report.json", _step_report, "per-layer shapes, MACs, bits, cycles, totals"),
    Step("bringup", "board/", _step_bringup, "board bring-up: Vivado block design, PYNQ driver, notebook"),
    Step("ci", "ci/", _step_ci, "CI jobs (GitHub Actions, GitLab) that rerun hwprune sim and publish JUnit"),
]


def step_names() -> list[str]:
    return [step.name for step in STEPS]


def _check_output_dir(out: Path) -> None:
    if out.exists():
        if not out.is_dir():
            raise BuildError("output path exists and is not a directory", file=out)
        if any(out.iterdir()) and not (out / BUILD_MARKER).exists():
            raise BuildError("exists and is not an hwprune build directory; refusing to overwrite it", file=out)


def _make_parents(parent: Path) -> list[Path]:
    """Create the output's missing parent directories; returns those created (outermost first), so a
    failed compile can remove exactly them and leave the user's tree as it was."""
    missing = [d for d in [parent, *parent.parents] if not d.exists()][::-1]
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _remove_created(missing)
        raise BuildError(f"cannot create the output's parent directory: {exc.strerror}", file=parent) from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BuildError("no permission to write here", file=parent)
    return missing


def _remove_created(created: list[Path]) -> None:
    """Remove the directories ``_make_parents`` created, innermost first, if still empty."""
    for directory in reversed(created):
        try:
            directory.rmdir()
        except OSError:
            return


def _publish(staging: Path, out: Path) -> None:
    """Swap the finished staging directory into place; the old build is removed only afterwards."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    try:
        staging.rename(out)
    except OSError:
        if old is not None:
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    """Serialise compiles that publish into the same parent directory (flock on the directory itself,
    so no lock file is ever left beside the user's files)."""
    with exclusive(directory):
        yield


def compile_model(model_path: str | Path, out: str | Path, config: CompileConfig) -> BuildContext:
    """Run the pipeline up to ``config.stop_after`` and publish the build directory atomically."""
    model_path, out = Path(model_path), Path(out)
    if config.stop_after is not None and config.stop_after not in step_names():
        raise ConfigError(f"unknown step {config.stop_after!r}; steps: {', '.join(step_names())}")
    board = load_board(config.board)
    if not (model_path.is_file() or is_saved_model_dir(model_path)):
        raise BuildError("model file not found" if not model_path.exists() else "not a file", file=model_path)
    _check_output_dir(out)
    parent = out.parent if str(out.parent) else Path(".")
    created: list[Path] = []
    try:
        with subprocesses.shielded():  # an interrupt between creating and recording them would leak them
            created = _make_parents(parent)
        with _directory_lock(parent):
            _check_output_dir(out)
            return _build(model_path, out, config, board)
    except BaseException:
        with subprocesses.shielded():
            _remove_created(created)
        raise


def _make_staging(out: Path) -> Path:
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as exc:
        raise BuildError(f"cannot write here: {exc.strerror}", file=out.parent) from None
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp's 0700 would make the published build private
    return staging


def _build(model_path: Path, out: Path, config: CompileConfig, board: Board) -> BuildContext:
    staging: Path | None = None
    try:
        with subprocesses.shielded():  # the staging directory exists only once the clean-up below knows it
            staging = _make_staging(out)
        ctx = BuildContext(model_path=model_path, config=config, board=board, staging=staging)
        (staging / BUILD_MARKER).write_text(f"hwprune {__version__}\n", encoding="utf-8")
        for step in STEPS:
            log.info("step %s", step.name)
            progress.step(step.name)
            step.run(ctx)
            if step.name == config.stop_after:
                break
        with subprocesses.shielded():  # never stop between moving the old build away and the new one in
            _publish(staging, out)
    except BaseException as exc:
        with subprocesses.shielded():
            if isinstance(exc, KeyboardInterrupt):
                subprocesses.kill_all()  # children of worker threads still writing into the staging directory
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        progress.finish()
    ctx.staging = out
    return ctx


