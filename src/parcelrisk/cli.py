"""Command-line interface: thin commands over the package's functions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    name="parcelrisk",
    help="Explainable risk scoring for low-value e-commerce parcels.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn errors a user can act on into a one-paragraph message and exit code 2."""
    try:
        yield
    except (ValueError, FileNotFoundError) as err:
        console.print(f"[bold red]error:[/] {err}", highlight=False)
        raise typer.Exit(2) from err


@app.callback()
def _main() -> None:
    """Explainable risk scoring for low-value e-commerce parcels."""


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Output file: .parquet or .csv.")],
    rows: Annotated[int, typer.Option(min=1, help="Number of parcels.")] = 1_000_000,
    days: Annotated[int, typer.Option(min=1, help="Length of the time window in days.")] = 60,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = 0,
    start: Annotated[str, typer.Option(help="First day of the window (YYYY-MM-DD).")] = (
        "2025-03-03"
    ),
    value_threshold: Annotated[
        float, typer.Option(min=1, help="De minimis value threshold in USD.")
    ] = 800.0,
) -> None:
    """Generate synthetic parcel declarations with outcomes and hidden ground truth."""
    from parcelrisk.io import check_suffix, write_declarations
    from parcelrisk.synth import generate as run
    from parcelrisk.synth import summarize

    with _user_errors():
        check_suffix(out)
        with console.status(f"Generating {rows:,} parcels over {days} days (seed {seed})..."):
            frame = run(
                rows=rows, days=days, seed=seed, start=start, value_threshold=value_threshold
            )
        with console.status(f"Writing {out}..."):
            write_declarations(frame, out)
    figures = summarize(frame)
    table = Table(title=f"{out}: {len(frame):,} parcels", show_header=False)
    for key in (
        "violation_rate", "bayes_roc_auc", "bayes_precision_at_budget", "inspected_rate",
        "random_inspected_rate", "rule_hit_rate", "random_hit_rate",
    ):  # fmt: skip
        table.add_row(key, f"{figures[key]:.4f}")
    console.print(table)


if __name__ == "__main__":
    app()
