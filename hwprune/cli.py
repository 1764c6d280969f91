"""The ``hwprune`` command: a thin typer front over ``hwprune.flow`` and friends.

Exit codes: 0 success; 2 a user error (bad model, unknown board, bad option — one line on stderr
naming file/node/reason); 1 an internal error (a bug: please report it, with ``--debug`` output);
130 interrupted (Ctrl-C; the previous build directory is left as it was).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import typer

from hwprune import __version__, progress, subprocesses
from hwprune.errors import HwpruneError

EXIT_OK, EXIT_INTERNAL, EXIT_USER, EXIT_INTERRUPTED = 0, 1, 2, 130

app = typer.Typer(
    name="hwprune",
    help="Prune, quantize and lower neural networks to sparse FPGA/ASIC kernels, verified bit-exactly.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log each pipeline step."),
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        typer.echo(f"hwprune {__version__}")
        raise typer.Exit(EXIT_OK)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="hwprune: %(message)s")


@app.command("compile")
def compile_command(
    model: Path = typer.Argument(..., help="Model file: ONNX (opset 13+) or QONNX exported by Brevitas."),
    board: Optional[str] = typer.Option(None, "--board", "-b", help="Target board (see `hwprune boards`)."),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Build directory [default: build/<model>/<board>]; replaced atomically."
    ),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file with the same options as the flags."),
    calibration: Optional[str] = typer.Option(
        None, "--calibration", help="Calibration inputs (.npz) for PTQ [default: calibration.npz beside the model]."
    ),
    eval_data: Optional[str] = typer.Option(None, "--eval-data", help=".npz with x and y: report accuracy."),
    weight_bits: Optional[int] = typer.Option(None, "--weight-bits", help="Bits per weight [8]."),
    act_bits: Optional[int] = typer.Option(None, "--act-bits", help="Bits per activation [8]."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for every random choice [0]."),
    max_util: Optional[float] = typer.Option(
        None, "--max-util", help="Fraction of the board's resources the design may use [0.8]."
    ),
    lanes: Optional[int] = typer.Option(
        None, "--lanes", help="Pin every layer to this many lanes (at most its outputs) [fitted per layer]."
    ),
    target_interval: Optional[int] = typer.Option(
        None, "--target-interval",
        help="Cycles per inference to reach: build the cheapest design that does [fastest that fits].",
    ),
    estimate: Optional[bool] = typer.Option(
        None, "--estimate/--no-estimate", help="Synthesize each kernel with Yosys for resource counts [on]."
    ),
    full_synthesis: Optional[bool] = typer.Option(
        None, "--full-synthesis", help="Synthesize every kernel whole (not large ones from 4- and 8-lane cuts).",
    ),
    cache_dir: Optional[str] = typer.Option(
        None, "--cache-dir", help="Cache root, shared by all builds [$HWPRUNE_CACHE_DIR or ~/.cache/hwprune]."
    ),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Yosys processes at once [one per CPU]."),
    vectors: Optional[int] = typer.Option(
        None, "--vectors", help="Random golden vectors per layer case, plus 4 edge vectors [200]."
    ),
    stream_width: Optional[int] = typer.Option(
        None, "--stream-width", help="Most elements per beat between two dense layers; 1: none wide [16]."
    ),
    stop_after: Optional[str] = typer.Option(
        None, "--stop-after",
        help="Stop after this step: import, quantize, lower, emit, estimate, report, bringup, ci.",
    ),
) -> None:
    """Compile MODEL for a board: import, quantize, lower (fit to the board), emit RTL/HLS with golden
    vectors, estimate resources with Yosys, report (report.json, report.html)."""
    from hwprune.config import CompileConfig, load_config
    from hwprune.flow import compile_model

    base = load_config(config) if config is not None else CompileConfig()
    cfg = base.with_overrides(
        board=board, calibration=calibration, eval_data=eval_data, weight_bits=weight_bits, act_bits=act_bits,
        seed=seed, stop_after=stop_after, max_util=max_util, estimate=estimate, lanes=lanes,
        target_interval=target_interval, full_synthesis=full_synthesis, cache_dir=cache_dir, jobs=jobs,
        vectors=vectors, stream_width=stream_width,
    )
    target = out if out is not None else Path("build") / model.stem / cfg.board
    ctx = compile_model(model, target, cfg)
    typer.echo(f"hwprune: built {target} ({model.name} for {cfg.board})")
    if ctx.accuracy:
        typer.echo(
            f"hwprune: top-1 float {ctx.accuracy['float_top1']:.2f}% integer {ctx.accuracy['integer_top1']:.2f}% "
            f"on {ctx.accuracy['samples']} samples"
        )


@app.command("boards")
def boards_command() -> None:
    """List the target boards with their programmable-logic resources."""
    from hwprune.boards import all_boards

    header = f"{'board':<13} {'part':<24} {'family':<12} {'LUT':>9} {'FF':>9} {'DSP':>6} {'BRAM36':>6} {'URAM':>5} {'MHz':>5}"
    typer.echo(header)
    for b in all_boards():
        typer.echo(
            f"{b.name:<13} {b.part:<24} {b.family:<12} {b.lut:>9} {b.ff:>9} {b.dsp:>6} {b.bram36:>6} {b.uram:>5} "
            f"{b.pl_clock_mhz:>5g}"
        )


# Subcommands that live beside the stage they drive: each module has ``register(app)``.
_COMMAND_MODULES: tuple[str, ...] = ("hwprune.cli_prune", "hwprune.cli_sim", "hwprune.cli_report",
                                       "hwprune.cli_explore")


def _register_subcommands() -> None:
    import importlib

    for module in _COMMAND_MODULES:
        importlib.import_module(module).register(app)


_register_subcommands()


def _terminate(signum: int, frame: object) -> None:
    """SIGINT and SIGTERM: stop every child process at once (``subprocesses.interrupt``: no new one
    starts, so a thread pool's queued jobs end too), then unwind like Ctrl-C, so the staging directory
    is removed and the old build kept."""
    subprocesses.interrupt()
    raise KeyboardInterrupt


def _set_handlers(handler: object) -> dict[int, object]:
    """Install ``handler`` for SIGINT and SIGTERM (main thread only); returns the previous ones."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}


def _restore_handlers(previous: dict[int, object]) -> None:
    """Put back what ``_set_handlers`` replaced (``main`` may run in-process, inside a test)."""
    for signum, handler in previous.items():
        signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def _join_new_threads(before: set[threading.Thread], seconds: float) -> None:
    """Give the threads this command started (a worker pool whose children were just killed) a bounded
    time to finish their clean-up (a Yosys job's scratch directory); never wait for them longer."""
    deadline = time.monotonic() + seconds
    for thread in threading.enumerate():
        if thread not in before and thread is not threading.current_thread() and not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))


def main(argv: list[str] | None = None) -> int:
    """Console entry point: maps errors to one line and an exit code.

    Interrupts (docs/reliability.md): SIGINT and SIGTERM are handled here even when the parent left
    SIGINT ignored (a background job of a non-interactive shell: Python then installs no
    ``KeyboardInterrupt`` handler of its own). When interrupted, every child process is killed and,
    run as the process's entry point (``argv`` None), the process ends with ``os._exit(130)`` right
    after hwprune's own clean-up: Python's finalisation of torch & co. takes seconds on a loaded
    machine, and it would wait for every worker thread.
    """
    process_entry = argv is None
    threads_before = set(threading.enumerate())
    subprocesses.reset()
    previous = _set_handlers(_terminate)
    try:
        code = _dispatch(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:  # raised outside click's own handling (e.g. while printing an error)
        code = EXIT_INTERRUPTED
    if code != EXIT_INTERRUPTED:
        _restore_handlers(previous)
        return code
    _set_handlers(signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
    subprocesses.kill_all(descendants=True)
    _join_new_threads(threads_before, subprocesses.GRACE_S)
    typer.echo("hwprune: interrupted; the previous build directory was left unchanged", err=True)
    if process_entry:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(EXIT_INTERRUPTED)
    _restore_handlers(previous)
    return code


def _is_usage_error(exc: Exception) -> bool:
    """A bad option or argument: click's ``ClickException``, or the copy of click that typer 0.29 and
    later carry inside (``typer._click``), whose exceptions are not click's classes."""
    import click

    bases = [click.exceptions.ClickException]
    with contextlib.suppress(ImportError):
        from typer._click.exceptions import ClickException as VendoredClickException

        bases.append(VendoredClickException)
    return isinstance(exc, tuple(bases))


def _dispatch(argv: list[str]) -> int:
    """Run the command; errors become one line on stderr and an exit code (130 when interrupted)."""
    debug = "--debug" in argv
    args = [a for a in argv if a != "--debug"]
    from hwprune.cli_sim import fill_optional_values

    args = fill_optional_values(args)
    try:
        # typer in non-standalone mode returns exit codes instead of raising: 130 for Ctrl-C
        with progress.reporting(progress.for_terminal()):
            code = app(args=args, standalone_mode=False)
    except HwpruneError as exc:
        typer.echo(f"hwprune: error: {exc.message}", err=True)
        return EXIT_USER
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return EXIT_INTERRUPTED
    except Exception as exc:  # click's usage errors and real bugs
        if _is_usage_error(exc):
            exc.show()  # type: ignore[attr-defined]
            return EXIT_USER
        if debug:
            raise
        typer.echo(f"hwprune: internal error: {type(exc).__name__}: {exc} (rerun with --debug and report it)",
                   err=True)
        return EXIT_INTERNAL
    return code if isinstance(code, int) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
