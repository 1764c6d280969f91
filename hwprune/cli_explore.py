"""``hwprune explore MODEL --board B``: sweep pattern × sparsity × weight bits × lanes, print the
Pareto set, write explore.json and pareto.png (see ``hwprune.explore``)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

__all__ = ["register", "explore_command"]


def _progress() -> tuple[object, object]:
    """A rich progress bar on an interactive terminal, nothing otherwise (CI logs stay clean)."""
    import sys

    if not sys.stderr.isatty():
        return None, None
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(console=Console(stderr=True), transient=True)
    return bar, bar.add_task("exploring", total=None)


def explore_command(
    model: Path = typer.Argument(..., help="Float ONNX model (the same models `hwprune prune` takes)."),
    board: Optional[str] = typer.Option(None, "--board", "-b", help="Target board (see `hwprune boards`)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="Output directory (default: build/<model>/explore/<board>)."),
    config: Optional[Path] = typer.Option(None, "--config",
                                          help="YAML file with the same options as the flags."),
    pattern: List[str] = typer.Option([], "--pattern", "-p",
                                      help="Pattern NAME[:PARAM=VALUE…] to sweep (repeatable) "
                                           "(default: dense, nm, balanced_stochastic, bank_balanced)."),
    sparsity: List[float] = typer.Option([], "--sparsity", "-s",
                                         help="Target sparsity (repeatable) (default: 0.5, 0.75)."),
    lanes: List[int] = typer.Option(
        [], "--lanes", help="Lanes per layer, 0 = fitter's choice (repeatable) (default: 0, 4, 16)."),
    weight_bits: List[int] = typer.Option([], "--weight-bits",
                                          help="Weight bits (repeatable) (default: 8, 4)."),
    act_bits: Optional[int] = typer.Option(None, "--act-bits", help="Bits per activation (default: 8)."),
    calibration: Optional[str] = typer.Option(
        None, "--calibration", help="Calibration .npz (default: calibration.npz beside the model)."),
    eval_data: Optional[str] = typer.Option(
        None, "--eval-data", help=".npz with x and y: accuracy loss becomes a third objective."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the stochastic masks (default: 0)."),
    max_util: Optional[float] = typer.Option(None, "--max-util",
                                             help="Share of the board a point may use (default: 0.8)."),
    yosys: Optional[bool] = typer.Option(None, "--yosys/--no-yosys",
                                         help="Synthesize the Pareto points (default: off)."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j",
                                          help="Local processes, 0 = one per CPU (default: 0)."),
    ray: Optional[str] = typer.Option(
        None, "--ray", help="Run on Ray: a cluster ADDRESS (auto, ray://host:port) or 'local'."),
) -> None:
    """Sweep MODEL's design space for a board; print the Pareto set of cycles, resources (and accuracy
    loss), write explore.json and pareto.png."""
    from hwprune.explore import ExploreConfig, load_explore_config, run_explore

    base = load_explore_config(config) if config is not None else ExploreConfig()
    cfg = base.with_overrides(
        board=board, patterns=tuple(pattern), sparsities=tuple(sparsity), lanes=tuple(lanes),
        weight_bits=tuple(weight_bits), act_bits=act_bits, calibration=calibration, eval_data=eval_data,
        seed=seed, max_util=max_util, yosys=yosys, workers=workers, ray=ray,
    )
    target = out if out is not None else Path("build") / model.stem / "explore" / cfg.board
    bar, task = _progress()
    if bar is not None:
        bar.start()
    try:
        update = None if bar is None else (lambda done, total: bar.update(task, completed=done, total=total))
        result = run_explore(model, cfg, target, progress=update)  # type: ignore[arg-type]
    finally:
        if bar is not None:
            bar.stop()
    data = result.data
    fits = sum(1 for p in result.points if p.get("fits"))
    typer.echo(f"hwprune: {len(result.points)} points ({fits} fit {data['board']['name']}), "
               f"{len(result.pareto)} on the Pareto set of {', '.join(data['objectives'])}")
    typer.echo(f"{'#':>4} {'pattern':<22} {'sparsity':>8} {'w bits':>6} {'lanes':>5} {'cycles':>8} "
               f"{'resources':>9} {'top-1 loss':>10}")
    for p in result.pareto:
        loss = f"{p['accuracy_loss']:.2f}" if "accuracy_loss" in p else "-"
        synth = ""
        if "yosys" in p:
            synth = f"  Yosys: {p['yosys']['lut']} LUT, {p['yosys']['ff']} FF, {p['yosys']['dsp']} DSP"
        typer.echo(f"{p['index']:>4} {p['pattern'][:22]:<22} {p['sparsity']:>8g} {p['weight_bits']:>6} "
                   f"{p['lanes'] or 'auto':>5} {p['interval_cycles']:>8} {p['resource_cost']:>9.4g} "
                   f"{loss:>10}{synth}")
    typer.echo(f"hwprune: wrote {target / 'explore.json'} and {target / 'pareto.png'}")


def register(app: typer.Typer) -> None:
    """Add ``explore`` to the ``hwprune`` command."""
    app.command("explore")(explore_command)
