"""The ``hwprune prune`` command (registered on the main app by ``hwprune.cli``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

__all__ = ["register"]


def prune_command(
    model: Path = typer.Argument(..., help="Float ONNX model (Gemm/Conv/Relu/MaxPool/Flatten, BatchNorm folds)."),
    out: Path = typer.Option(..., "--out", "-o", help="Pruned ONNX file to write (atomically)."),
    pattern: str = typer.Option("balanced_stochastic", "--pattern", "-p",
                                help="dense, unstructured, nm, bank_balanced, balanced_stochastic, block_punched, channel."),
    sparsity: float = typer.Option(0.75, "--sparsity", "-s", help="Fraction of weights removed, in [0, 1)."),
    param: List[str] = typer.Option([], "--param", help="Pattern parameter NAME=VALUE (repeatable), e.g. m=4."),
    skip: List[str] = typer.Option([], "--skip", help="Layer to leave dense (repeatable), e.g. conv0."),
    data: Optional[Path] = typer.Option(None, "--data", help="Training data .npz with x and y: fine-tune."),
    epochs: int = typer.Option(5, "--epochs", help="Fine-tuning epochs (with --data)."),
    method: str = typer.Option("one_shot", "--method", help="one_shot (+fine-tune), gradual (cubic ramp), admm."),
    lr: float = typer.Option(1e-3, "--lr", help="Adam learning rate for fine-tuning."),
    seed: int = typer.Option(0, "--seed", help="Seed for batch order and stochastic masks."),
    report: Optional[Path] = typer.Option(None, "--report", help="Also write the per-layer report as JSON."),
) -> None:
    """Prune MODEL with a hardware-aware sparsity pattern and write OUT (one-shot, or fine-tuned with --data)."""
    from hwprune.prune.command import PruneOptions, parse_params, prune_model

    options = PruneOptions(pattern=pattern, sparsity=sparsity, params=parse_params(param), skip=tuple(skip),
                           data=data, epochs=epochs, method=method, lr=lr, seed=seed)
    result = prune_model(model, out, options)
    for row in result.layers:
        typer.echo(f"  {row['layer']:<16} {row['pattern']:<20} sparsity {row['sparsity']:.3f}  "
                   f"metadata {row['metadata_bits_per_kept_weight']:.3g} bits/kept weight")
    if result.channels_removed:
        typer.echo(f"  channels removed: {result.channels_removed}")
    if result.accuracy_before is not None:
        typer.echo(f"hwprune: training-set accuracy {100 * result.accuracy_before:.2f}% -> "
                   f"{100 * (result.accuracy_after or 0.0):.2f}%")
    if report is not None:
        report.write_text(json.dumps({"layers": result.layers, "accuracy_before": result.accuracy_before,
                                      "accuracy_after": result.accuracy_after,
                                      "admm_residuals": result.admm_residuals}, indent=1, sort_keys=True) + "\n")
    typer.echo(f"hwprune: wrote {out} ({pattern} at {sparsity:g})")


def register(app: typer.Typer) -> None:
    """Add ``prune`` to the ``hwprune`` command."""
    app.command("prune")(prune_command)
