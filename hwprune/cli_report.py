"""``hwprune report BUILD_DIR``: regenerate ``report.html`` from a build directory's JSON checkpoints
(after a re-estimate, a hand edit of report.json or a newer hwprune) and optionally open it."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report_command(
        build_dir: Path = typer.Argument(
            ..., help="A build directory written by `hwprune compile` (has report.json)."),
        open_browser: bool = typer.Option(False, "--open", help="Open the page in the default web browser."),
    ) -> None:
        """Regenerate BUILD_DIR/report.html (self-contained: plots inlined, no network)."""
        from hwprune.report.html import write_html_report

        path = write_html_report(build_dir)
        typer.echo(f"hwprune: wrote {path}")
        if open_browser:
            import webbrowser

            if not webbrowser.open(path.resolve().as_uri()):
                typer.echo("hwprune: no web browser found; open the file by hand", err=True)
