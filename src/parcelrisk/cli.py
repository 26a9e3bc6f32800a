"""Command-line interface: thin commands over the package's functions."""

from __future__ import annotations

import json
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
    from parcelrisk.artifact import ModelIntegrityError

    try:
        yield
    except (ValueError, FileNotFoundError, FileExistsError, ModelIntegrityError) as err:
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
    from parcelrisk.contract import check_suffix, write_declarations
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


_MAPPING_HELP = "Column mapping (YAML) of a table in your own columns: docs/byo-data.md."


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="Declarations with outcomes (.parquet or .csv).")],
    config: Annotated[
        Path | None, typer.Option(help="Model settings (default: configs/model.yaml).")
    ] = None,
    mapping: Annotated[Path | None, typer.Option(help=_MAPPING_HELP)] = None,
    out: Annotated[
        Path | None, typer.Option(help="Model directory (default: models-dir/parcelrisk-<time>).")
    ] = None,
    test_from: Annotated[
        str | None,
        typer.Option(help="Test window start (YYYY-MM-DD; the mapping's timezone, else UTC)."),
    ] = None,
    test_fraction: Annotated[
        float | None,
        typer.Option(help="Test on this share of the latest rows (default with --mapping: 0.2)."),
    ] = None,
    models_dir: Annotated[Path, typer.Option(help="Where the model directory goes.")] = Path(
        "models"
    ),
    reports_dir: Annotated[Path, typer.Option(help="Where the evaluation report goes.")] = Path(
        "reports"
    ),
    track: Annotated[bool, typer.Option(help="Log the run to MLflow and register it.")] = True,
) -> None:
    """Train on earlier weeks, evaluate on the latest, export the model, register it.

    With --mapping, DATA is a table in your own columns: the model is evaluated on the
    labelled test rows (as `evaluate --json` does; kept in the model's metadata.json) and
    exported with the mapping, without MLflow.
    """
    from parcelrisk.config import load_config
    from parcelrisk.contract import read_declarations
    from parcelrisk.train import cutoff_for
    from parcelrisk.train import train as run

    if mapping is not None:
        _train_mapped(data, mapping, config, out, test_from, test_fraction, models_dir)
        return
    with _user_errors():
        settings = load_config(config)
        with console.status(f"Reading {data}..."):
            frame = read_declarations(data, require_outcomes=True)
        cutoff = None
        if test_from is not None or test_fraction is not None:
            cutoff = cutoff_for(frame, test_from=test_from, test_fraction=test_fraction)
        with console.status("Training...") as status:
            result = run(
                frame, settings, models_dir=models_dir, reports_dir=reports_dir, track=track,
                progress=lambda msg: status.update(msg + "..."), cutoff=cutoff, out=out,
            )  # fmt: skip
    _print_targets(result.evaluation.targets)
    console.print(f"model: [bold]{result.model_dir}[/]  report: [bold]{result.report}[/]")
    if result.registry:
        r = result.registry
        console.print(f"registered parcelrisk v{r['version']} as @{r['alias']}: {r['reason']}")


def _train_mapped(data, mapping, config, out, test_from, test_fraction, models_dir) -> None:
    """`train --mapping`: read the table through the mapping, train, print the evaluation."""
    from parcelrisk.config import load_config
    from parcelrisk.contract import load_mapping, read_mapped
    from parcelrisk.train import cutoff_for, train_mapped

    with _user_errors():
        settings = load_config(config)
        columns = load_mapping(mapping)
        with console.status(f"Reading {data} through {mapping}..."):
            frame = read_mapped(data, columns)
        if test_from is None and test_fraction is None:
            test_fraction = 0.2
        cutoff = cutoff_for(
            frame, test_from=test_from, test_fraction=test_fraction, timezone=columns.timezone
        )
        with console.status("Training...") as status:
            result = train_mapped(
                frame, columns, settings, cutoff, out=out, models_dir=models_dir,
                progress=lambda msg: status.update(msg + "..."),
            )  # fmt: skip
    absent = result.skipped.get("absent_inputs", [])
    console.print(f"inputs the data does not give (their features are skipped): {absent}")
    _print_labelled(result.evaluation)
    console.print(f"model: [bold]{result.model_dir}[/] (not logged to MLflow)")


@app.command()
def evaluate(
    data: Annotated[Path, typer.Option(help="Declarations with outcomes (.parquet or .csv).")],
    model: Annotated[
        Path | None, typer.Option(help="Exported model directory (default: newest in models/).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="Model settings (default: configs/model.yaml).")
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option(help=_MAPPING_HELP + " Default: the model's own, if any.")
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON object (ROC-AUC, PR-AUC, precision and recall at "
            "budgets of 1, 5 and 10% of the test rows) instead of the report.",
        ),
    ] = False,
    reports_dir: Annotated[Path, typer.Option(help="Where the report goes.")] = Path("reports"),
) -> None:
    """Evaluate an exported model on the test window of a data file, against baselines.

    The test window starts at the model's training cut-off. A table in your own columns
    (--mapping, or a model trained with one) gets the labelled-rows evaluation of --json.
    """
    import pandas as pd

    from parcelrisk.artifact import latest_model, load_model
    from parcelrisk.config import load_config
    from parcelrisk.contract import load_mapping, read_declarations, read_mapped
    from parcelrisk.evaluate import evaluate_exported, evaluate_window

    with _user_errors():
        settings = load_config(config)
        loaded = load_model(model or latest_model(Path("models")))
        columns = load_mapping(mapping) if mapping else loaded.mapping
        with console.status(f"Reading {data}..."):
            if columns is None:
                frame = read_declarations(data, require_outcomes=True)
            else:
                frame = read_mapped(data, columns)
        if as_json or columns is not None:
            cutoff = pd.Timestamp(loaded.metadata["training_window"]["end"])
            with console.status("Evaluating..."):
                figures = evaluate_window(
                    loaded.pipeline, frame, cutoff, seed=settings.random_state
                )
            figures = {"model": loaded.version, **figures}
            if not as_json:
                _print_labelled(figures)
                return
            typer.echo(json.dumps(figures))
            return
        with console.status("Evaluating..."):
            result, report = evaluate_exported(loaded, frame, settings, Path(reports_dir))
    _print_targets(result.targets)
    console.print(f"report: [bold]{report}[/]")


@app.command()
def score(
    data: Annotated[Path, typer.Argument(help="Declarations to score (.parquet or .csv).")],
    out: Annotated[Path, typer.Option(help="Output file (.parquet or .csv).")],
    model: Annotated[
        Path | None, typer.Option(help="Exported model directory (default: newest in models/).")
    ] = None,
    top: Annotated[int, typer.Option(help="Print this many riskiest parcels.")] = 10,
    last_day: Annotated[bool, typer.Option(help="Score only the last day in the file.")] = False,
    mapping: Annotated[
        Path | None, typer.Option(help=_MAPPING_HELP + " Default: the model's own, if any.")
    ] = None,
) -> None:
    """Score a file of declarations: probability and lane per parcel."""
    from parcelrisk.artifact import latest_model, load_model
    from parcelrisk.contract import check_suffix, load_mapping, read_declarations, read_mapped
    from parcelrisk.predict import score as run

    with _user_errors():
        check_suffix(out)
        loaded = load_model(model or latest_model(Path("models")))
        columns = load_mapping(mapping) if mapping else loaded.mapping
        with console.status(f"Reading {data}..."):
            if columns is None:
                frame = read_declarations(data)
            else:
                frame = read_mapped(data, columns, outcomes=False)
        if last_day:
            day = frame["declared_at"].max().floor("D")
            frame = frame[frame["declared_at"] >= day]
        with console.status(f"Scoring {len(frame):,} parcels with {loaded.version}..."):
            scores = run(loaded, frame)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".csv":
            scores.to_csv(out, index=False)
        else:
            scores.to_parquet(out, index=False)
    table = Table(title=f"riskiest of {len(scores):,} parcels (model {loaded.version})")
    for col in ("parcel_id", "probability", "lane", "description", "declared_value_usd"):
        table.add_column(col)
    riskiest = scores.nlargest(top, "probability").join(
        frame[["description", "declared_value_usd"]]
    )
    for row in riskiest.itertuples():
        table.add_row(
            row.parcel_id, f"{row.probability:.3f}", row.lane, str(row.description)[:40],
            f"{row.declared_value_usd:.2f}",
        )  # fmt: skip
    console.print(table)
    counts = scores["lane"].value_counts()
    console.print(
        ", ".join(f"{lane}: {counts.get(lane, 0):,}" for lane in ("inspect", "review", "release"))
    )
    console.print(f"scores written to [bold]{out}[/]")


audit_app = typer.Typer(help="Read and replay the audit log of scoring decisions.")
app.add_typer(audit_app, name="audit")
_AUDIT_URL = typer.Option(help="SQLAlchemy URL of the audit store.")


@audit_app.command("show")
def audit_show(
    parcel_id: Annotated[str, typer.Argument(help="Parcel id to look up.")],
    db: Annotated[str, _AUDIT_URL] = "sqlite:///audit.db",
    models_dir: Annotated[Path, typer.Option(help="Where exported models live.")] = Path("models"),
) -> None:
    """Print the logged decisions of a parcel with their reasons."""
    from parcelrisk.audit import AuditStore
    from parcelrisk.replay import reasons_on_demand

    with _user_errors():
        store = AuditStore(db)
        decisions = store.decisions(parcel_id=parcel_id)
        if not decisions:
            raise ValueError(f"no logged decision for parcel {parcel_id!r} in {db}")
        for d in decisions:
            console.print(
                f"[bold]{d['parcel_id']}[/] at {d['logged_at']} (request {d['request_id']}): "
                f"probability {d['probability']:.4f}, lane [bold]{d['lane']}[/], "
                f"model {d['model_version']}, input sha256 {d['input_sha256'][:16]}...",
                highlight=False,
            )
            shown = d["reasons"]
            if shown is None:
                console.print("  (not explained at the time; reasons computed now)")
                shown = reasons_on_demand(store, models_dir, parcel_id)
            for r in shown:
                console.print(f"  {r['contribution']:+.3f}  {r['group']}: {r['text']}")


@audit_app.command("replay")
def audit_replay(
    since: Annotated[
        str | None, typer.Option(help="Only decisions logged at or after (ISO 8601).")
    ] = None,
    db: Annotated[str, _AUDIT_URL] = "sqlite:///audit.db",
    models_dir: Annotated[Path, typer.Option(help="Where exported models live.")] = Path("models"),
) -> None:
    """Re-score logged inputs with the logged model version; report every difference."""
    import pandas as pd

    from parcelrisk.audit import AuditStore
    from parcelrisk.replay import replay

    with _user_errors():
        start = None
        if since:
            stamp = pd.Timestamp(since)
            start = (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).to_pydatetime()
        result = replay(AuditStore(db), models_dir, start)
    console.print(f"replayed {result.replayed:,} decisions: {len(result.differences)} differ")
    for d in result.differences[:20]:
        console.print(d, highlight=False)
    if result.differences:
        raise typer.Exit(1)


def _print_labelled(figures: dict) -> None:
    """The labelled-rows evaluation as a table (on stderr, like every other message)."""
    table = Table(title=f"test window {figures['test_from']} .. {figures['test_to']}")
    for col in ("measure", "value"):
        table.add_column(col)
    for key in ("rows", "labelled", "positives", "roc_auc", "pr_auc"):
        table.add_row(key, _figure(figures[key]))
    for budget in figures["precision"]:
        table.add_row(f"precision at {float(budget):.0%}", _figure(figures["precision"][budget]))
        table.add_row(f"recall at {float(budget):.0%}", _figure(figures["recall"][budget]))
    console.print(table)


def _figure(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:,}" if isinstance(value, int) else f"{value:.4f}"


@app.command()
def report(
    parcel_id: Annotated[
        str | None, typer.Argument(help="Parcel id to explain (omit with --batch).")
    ] = None,
    batch: Annotated[bool, typer.Option(help="Summarise a day's decisions instead.")] = False,
    day: Annotated[
        str | None,
        typer.Option(help="Day of --batch (YYYY-MM-DD, UTC; default: the newest logged day)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("report.html"),
    db: Annotated[str, _AUDIT_URL] = "sqlite:///audit.db",
    models_dir: Annotated[Path, typer.Option(help="Where exported models live.")] = Path("models"),
) -> None:
    """Write a self-contained HTML report from the audit log: one parcel, or a day (--batch)."""
    from parcelrisk.auditreport import batch_report, open_store, parcel_report
    from parcelrisk.htmlpage import write_html

    with _user_errors():
        if batch == (parcel_id is not None):
            raise ValueError("give a PARCEL_ID, or --batch for a day's decisions (not both)")
        if day is not None and not batch:
            raise ValueError("--day goes with --batch; a parcel's report covers its decisions")
        store = open_store(db)
        if batch:
            text = batch_report(store, day, models_dir)
        else:
            text = parcel_report(store, models_dir, parcel_id)
        path = write_html(text, out)
    console.print(f"report written to [bold]{path}[/]")


def _print_targets(targets: list[tuple[str, str, bool]]) -> None:
    table = Table(title="targets")
    for col in ("target", "measured", "met"):
        table.add_column(col)
    for target, measured, met in targets:
        table.add_row(target, measured, "[green]yes[/]" if met else "[red]NO[/]")
    console.print(table)


if __name__ == "__main__":
    app()
