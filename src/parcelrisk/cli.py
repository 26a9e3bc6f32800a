"""Command-line interface: thin commands over the package's functions.

Each command imports what it uses when it runs: importing the whole package (pandas,
LightGBM, MLflow) costs seconds, and ``--help`` and usage errors should answer at once.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from parcelrisk.paths import check_suffix, check_table_file

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
    except _user_error_types() as err:
        console.print(
            f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True
        )  # paths stay whole
        raise typer.Exit(2) from err


def _user_error_types() -> tuple[type[Exception], ...]:
    """The errors a user can act on: bad values and files, and a corrupt model directory
    (whose class is looked up only once its module is loaded: before, none is raised)."""
    types: tuple[type[Exception], ...] = (ValueError, FileNotFoundError, FileExistsError)
    artifact = sys.modules.get("parcelrisk.artifact")
    return types + ((artifact.ModelIntegrityError,) if artifact is not None else ())


def _checked(check: Callable[[Path], object]) -> Callable:
    """A parameter callback that runs ``check`` on the value as the command line is read:
    before a command imports its heavy modules or loads a model, so a wrong path is
    reported at once, as the command's own errors are (exit code 2)."""

    def callback(ctx: typer.Context, value: Path | None) -> Path | None:
        if value is not None and not ctx.resilient_parsing:
            with _user_errors():
                check(value)
        return value

    return callback


#: Callbacks of a table file to read (suffix, exists) and of one to write (suffix).
_TABLE_IN, _TABLE_OUT = _checked(check_table_file), _checked(check_suffix)
#: A file option that must name an existing file (checked as the command line is read).
_FILE = {"exists": True, "dir_okay": False}


def _print_version(value: bool) -> None:
    if value:
        from parcelrisk import __version__

        typer.echo(f"parcelrisk {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Explainable risk scoring for low-value e-commerce parcels."""


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Output file: .parquet or .csv.", callback=_TABLE_OUT)],
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
    from parcelrisk.contract import write_declarations
    from parcelrisk.synth import generate as run
    from parcelrisk.synth import summarize

    with _user_errors():
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
_MODEL_HELP = (
    "Exported model directory (default: the registry's champion if a registry exists, "
    "else the newest model in models/)."
)
_DATA_HELP = "Declarations with outcomes (.parquet or .csv)."
_POLICY_HELP = (
    "Scoring policy: lanes and reasons (default: $PARCELRISK_POLICY or configs/policy.yaml)."
)


@app.command()
def train(
    data: Annotated[Path, typer.Option(help=_DATA_HELP, callback=_TABLE_IN)],
    config: Annotated[
        Path | None, typer.Option(help="Model settings (default: configs/model.yaml).", **_FILE)
    ] = None,
    mapping: Annotated[Path | None, typer.Option(help=_MAPPING_HELP, **_FILE)] = None,
    out: Annotated[
        Path | None, typer.Option(help="Model directory (default: models-dir/parcelrisk-<time>).")
    ] = None,
    test_from: Annotated[
        str | None,
        typer.Option(help="Test window start (YYYY-MM-DD; the mapping's timezone, else UTC)."),
    ] = None,
    test_fraction: Annotated[
        float | None,
        typer.Option(help="Test on this share of the latest rows (default: the last test_days)."),
    ] = None,
    models_dir: Annotated[Path, typer.Option(help="Where the model directory goes.")] = Path(
        "models"
    ),
    reports_dir: Annotated[Path, typer.Option(help="Where the evaluation report goes.")] = Path(
        "reports"
    ),
    track: Annotated[bool, typer.Option(help="Log the run to MLflow and register it.")] = True,
    name: Annotated[
        str, typer.Option(help="Registered model name (one per kind of table).")
    ] = "parcelrisk",
    refit: Annotated[
        bool | None,
        typer.Option(
            help="After the evaluation, refit on every parcel and export that model "
            "(default: the config's refit)."
        ),
    ] = None,
) -> None:
    """Train on earlier weeks, evaluate on the latest, export the model, register it.

    Any table: the contract's own columns, or your own through --mapping (the model is
    exported with the mapping and reads records in your column names).
    """
    from parcelrisk.train import train as run

    with _user_errors():
        settings, columns, frame, cutoff = _training_input(
            data, config, mapping, test_from, test_fraction
        )
        if refit is not None:
            settings = dataclasses.replace(settings, refit=refit)
        with console.status("Training...") as status:
            result = run(
                frame, settings, mapping=columns, cutoff=cutoff, out=out, models_dir=models_dir,
                reports_dir=reports_dir, track=track, name=name,
                progress=lambda msg: status.update(msg + "..."),
            )  # fmt: skip
    absent = result.skipped.get("absent_inputs", [])
    if absent:
        console.print(f"inputs the data does not give (their features are skipped): {absent}")
    _print_evaluation(result.evaluation)
    console.print(f"model: [bold]{result.model_dir}[/]  report: [bold]{result.report}[/]")
    if result.registry:
        r = result.registry
        console.print(f"registered {name} v{r['version']} as @{r['alias']}: {r['reason']}")


def _training_input(data, config, mapping, test_from, test_fraction):
    """What train and tune start from: the settings, the mapping (or None), the table read
    through it (its values made missing said) and the test window's start (None: the
    config's last test_days)."""
    from parcelrisk.config import load_config
    from parcelrisk.contract import load_mapping, read_table
    from parcelrisk.split import cutoff_for

    settings = load_config(config)
    columns = load_mapping(mapping) if mapping else None
    with console.status(f"Reading {data}..."):
        frame = read_table(data, columns, outcomes=True)
    _print_made_missing(frame, columns)
    cutoff = None
    if test_from is not None or test_fraction is not None:
        zone = columns.timezone if columns else "UTC"
        cutoff = cutoff_for(frame, test_from=test_from, test_fraction=test_fraction, timezone=zone)
    return settings, columns, frame, cutoff


def _load_model(directory: Path | None):
    """The model a command was given, else the default one (said on stderr)."""
    from parcelrisk.artifact import load_model

    if directory is None:
        from parcelrisk.tracking import default_model

        directory, which = default_model()
        console.print(f"model: {which}", highlight=False)
    with console.status(f"Loading the model in {directory}..."):
        return load_model(directory)


def _print_made_missing(frame, mapping) -> None:
    """Say how many values of each ``on_invalid: missing`` role were read as missing."""
    from parcelrisk.contract import made_missing

    for role, n in made_missing(frame).items():
        console.print(
            f"{mapping.roles[role]} ({role}): {n:,} invalid value(s) read as missing "
            "(on_invalid: missing)"
        )


@app.command()
def tune(
    data: Annotated[Path, typer.Option(help=_DATA_HELP, callback=_TABLE_IN)],
    trials: Annotated[int, typer.Option(min=1, help="Most trials to run (trial 0: the base).")],
    minutes: Annotated[float, typer.Option(min=0.01, help="Most minutes to search for.")],
    out: Annotated[Path, typer.Option(help="Where the winning config goes (YAML).")],
    config: Annotated[
        Path | None, typer.Option(help="Base settings (default: configs/model.yaml).", **_FILE)
    ] = None,
    mapping: Annotated[Path | None, typer.Option(help=_MAPPING_HELP, **_FILE)] = None,
    test_from: Annotated[
        str | None,
        typer.Option(help="Test window start, as for train: the search never reads it."),
    ] = None,
    test_fraction: Annotated[
        float | None,
        typer.Option(help="Test window: this share of the latest rows, as for train."),
    ] = None,
    shap_budget_ms: Annotated[
        float, typer.Option(min=0.0, help="Most exact TreeSHAP ms per parcel a winner may cost.")
    ] = 0.5,
    seed: Annotated[int, typer.Option(help="Seed of the TPE sampler.")] = 0,
    folds: Annotated[
        int,
        typer.Option(
            min=1,
            help="Consecutive validation windows at the end of the training period; a "
            "trial's score is their mean.",
        ),
    ] = 3,
) -> None:
    """Search model settings on the training period (Optuna); write the winner as a config.

    Each trial fits on the training period without its latest validation_fraction and is
    scored on that window; the test window train would use is never read (docs/tuning.md).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from parcelrisk.tune import OBJECTIVE, write_config
    from parcelrisk.tune import tune as run

    with _user_errors():
        settings, columns, frame, cutoff = _training_input(
            data, config, mapping, test_from, test_fraction
        )
        bar = Progress("{task.description}", BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), console=console)  # fmt: skip
        with bar:
            task = bar.add_task("tuning", total=trials)
            best = [float("-inf")]

            def advance(trial) -> None:
                if trial.feasible:
                    best[0] = max(best[0], trial.objective)
                bar.update(task, advance=1, description=f"tuning (best {OBJECTIVE} {best[0]:.4f})")

            result = run(
                frame, settings, mapping=columns, cutoff=cutoff, trials=trials, minutes=minutes,
                shap_budget_ms=shap_budget_ms, seed=seed, folds=folds, progress=advance,
            )  # fmt: skip
        path = write_config(result, out, data=str(data))
    _print_tuning(result)
    console.print(f"winning config written to [bold]{path}[/]; MLflow run {result.run_id}")


def _print_tuning(result) -> None:
    """The defaults (trial 0) against the winner, on the validation windows."""
    from parcelrisk.tune import OBJECTIVE, agreement_text

    w = result.window
    table = Table(title=f"{w['folds']} validation window(s) {w['validation_start']} .. "
                  f"{w['validation_end']} ({w['validation_rows']:,} parcels; figures: their "
                  f"means); {len(result.trials)} trials, "
                  f"{sum(t.feasible for t in result.trials)} within the SHAP budget")  # fmt: skip
    for col in ("", "trial", OBJECTIVE, "roc_auc", "SHAP ms/parcel"):
        table.add_column(col)
    for label, t in (("defaults", result.defaults), ("winner", result.best)):
        table.add_row(label, str(t.number), f"{t.objective:.4f}", f"{t.metrics['roc_auc']:.4f}",
                      f"{t.shap_ms:.3f}" + ("" if t.feasible else " (over budget)"))  # fmt: skip
    console.print(table)
    console.print(agreement_text(result))
    changed = {k: v for k, v in result.best.config.lgbm.items()
               if result.defaults.config.lgbm.get(k) != v}  # fmt: skip
    console.print(f"winner: history_smoothing {result.best.config.history_smoothing:g}, "
                  f"lgbm {changed}", highlight=False)  # fmt: skip


@app.command()
def evaluate(
    data: Annotated[Path, typer.Option(help=_DATA_HELP, callback=_TABLE_IN)],
    model: Annotated[Path | None, typer.Option(help=_MODEL_HELP)] = None,
    config: Annotated[
        Path | None, typer.Option(help="Model settings (default: configs/model.yaml).", **_FILE)
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(help=_MAPPING_HELP + " Default: the model's own, if any.", **_FILE),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Also print one JSON object on stdout: the model on the labelled test rows "
            "(ROC-AUC, PR-AUC, precision and recall at each budget).",
        ),
    ] = False,
    reports_dir: Annotated[Path, typer.Option(help="Where the report goes.")] = Path("reports"),
) -> None:
    """Evaluate an exported model on the test window of a data file, against baselines.

    The test window starts at the model's training cut-off; the report goes to
    reports-dir/<version>-evaluate/.
    """
    from parcelrisk.config import load_config
    from parcelrisk.contract import load_mapping, made_missing, read_table
    from parcelrisk.evaluate import evaluate_exported
    from parcelrisk.report import write_report

    with _user_errors():
        settings = load_config(config)
        loaded = _load_model(model)
        columns = load_mapping(mapping) if mapping else loaded.mapping
        with console.status(f"Reading {data}..."):
            frame = read_table(data, columns, outcomes=True)
        _print_made_missing(frame, columns)
        # the report counts the values this data file had made missing
        metadata = {**loaded.metadata, "made_missing": made_missing(frame)}
        with console.status("Evaluating..."):
            result, test = evaluate_exported(loaded, frame, settings)
            report = write_report(
                result, test, Path(reports_dir) / f"{loaded.version}-evaluate", metadata
            )
    _print_evaluation(result)
    console.print(f"report: [bold]{report}[/]")
    if as_json:
        typer.echo(json.dumps({"model": loaded.version, **result.summary()}))


@app.command()
def score(
    data: Annotated[
        Path, typer.Argument(help="Declarations to score (.parquet or .csv).", callback=_TABLE_IN)
    ],
    out: Annotated[Path, typer.Option(help="Output file (.parquet or .csv).", callback=_TABLE_OUT)],
    model: Annotated[Path | None, typer.Option(help=_MODEL_HELP)] = None,
    top: Annotated[int, typer.Option(help="Print this many riskiest parcels.")] = 10,
    last_day: Annotated[bool, typer.Option(help="Score only the last day in the file.")] = False,
    mapping: Annotated[
        Path | None,
        typer.Option(help=_MAPPING_HELP + " Default: the model's own, if any.", **_FILE),
    ] = None,
    reasons: Annotated[
        bool, typer.Option(help="Add the reasons of inspect and review parcels (JSON text).")
    ] = False,
    policy: Annotated[Path | None, typer.Option(help=_POLICY_HELP, **_FILE)] = None,
    history: Annotated[
        str | None,
        typer.Option(
            help="SQLAlchemy URL of the service's audit store: score against its live history "
            "(every declaration and outcome it logged), as the service would now. Read only: "
            "nothing is logged. Default: the model's training state and the file itself."
        ),
    ] = None,
) -> None:
    """Score a file of declarations: probability and lane per parcel (and reasons)."""
    from parcelrisk.contract import load_mapping, read_table
    from parcelrisk.policy import load_policy
    from parcelrisk.predict import decisions_frame
    from parcelrisk.predict import score as run

    with _user_errors():
        rules = load_policy(policy)
        loaded = _load_model(model)
        live = _live_history(history, loaded) if history else None
        columns = load_mapping(mapping) if mapping else loaded.mapping
        with console.status(f"Reading {data}..."):
            frame = read_table(data, columns, outcomes=False)
        _print_made_missing(frame, columns)
        if last_day:
            day = frame["declared_at"].max().floor("D")
            frame = frame[frame["declared_at"] >= day].reset_index(drop=True)
        with console.status(f"Scoring {len(frame):,} parcels with {loaded.version}..."):
            scored = run(loaded.pipeline, frame, rules, explain="lanes" if reasons else "none",
                         live=live)  # fmt: skip
        scores = decisions_frame(scored, loaded.version)
        if reasons:
            scores["reasons"] = [None if r is None else json.dumps(r) for r in scores["reasons"]]
        else:
            scores = scores.drop(columns=["model_version", "reasons"])
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


def _live_history(url: str, model):
    """The live history of ``model`` read from the audit store at ``url`` (opened to read)."""
    from parcelrisk.audit import open_store
    from parcelrisk.history_store import HistoryFollower

    follower = HistoryFollower(open_store(url), model)
    with console.status(f"Reading the live history from {url}..."):
        end = follower.catch_up()
    console.print(f"live history: {end.decisions:,} logged decisions and {end.outcomes:,} "
                  f"outcomes of {url}")  # fmt: skip
    return follower.live


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
    from parcelrisk.audit import open_store

    with _user_errors():
        store = open_store(db)
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
                from parcelrisk.replay import reasons_on_demand

                shown = reasons_on_demand(store, models_dir, parcel_id)
            for r in shown:
                console.print(f"  {r['contribution']:+.3f}  {r['group']}: {r['text']}")


@audit_app.command("replay")
def audit_replay(
    since: Annotated[
        str | None,
        typer.Option(
            help="Only decisions logged at or after this time: the audit log's clock (when "
            "the service decided), not when parcels were declared. ISO 8601 date or time "
            "(2025-05-01, 2025-05-01T08:00+02:00); UTC unless it has an offset."
        ),
    ] = None,
    db: Annotated[str, _AUDIT_URL] = "sqlite:///audit.db",
    models_dir: Annotated[Path, typer.Option(help="Where exported models live.")] = Path("models"),
) -> None:
    """Re-score logged inputs with the logged model version; report every difference.

    Exit status: 0 every decision replayed the same; 1 some differ; 2 nothing to replay
    (no decision logged, or none since --since) or another error.
    """
    from parcelrisk.audit import logged_span, open_store

    with _user_errors():
        start = None if since is None else _logged_since(since)
        store = open_store(db)
        span = logged_span(store)
        if not span.count:
            raise ValueError(f"nothing to replay: {span}")
        if start is not None and span.last < start:
            raise ValueError(f"nothing to replay: no decision was logged at or after "
                             f"{start:%Y-%m-%d %H:%M:%S} UTC (--since is when decisions were "
                             f"logged, not when parcels were declared); {span}")  # fmt: skip
        from parcelrisk.replay import replay

        result = replay(store, models_dir, start)
    console.print(f"replayed {result.replayed:,} decisions: {len(result.differences)} differ")
    for d in result.differences[:20]:
        console.print(d, highlight=False)
    if result.differences:
        raise typer.Exit(1)


def _logged_since(text: str) -> datetime:
    """The time of ``--since`` in UTC (a date is its midnight; no offset: UTC)."""
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError as err:
        raise ValueError(f"--since {text!r} is not an ISO 8601 date or time "
                         "(e.g. 2025-05-01 or 2025-05-01T08:00:00+02:00)") from err  # fmt: skip
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _print_evaluation(evaluation) -> None:
    """The targets and the model on the labelled test rows, as tables (on stderr)."""
    _print_targets(evaluation.targets)
    figures = evaluation.summary()
    table = Table(title=f"test window {figures['test_from']} .. {figures['test_to']}")
    for col in ("measure", "value"):
        table.add_column(col)
    for key in ("rows", "labelled", "positives", "roc_auc", "pr_auc"):
        table.add_row(key, _figure(figures[key]))
    for budget in figures["precision"]:
        table.add_row(f"precision at {float(budget):.0%}", _figure(figures["precision"][budget]))
        table.add_row(f"recall at {float(budget):.0%}", _figure(figures["recall"][budget]))
    console.print(table)
    from parcelrisk.report import headline_view

    view = headline_view(evaluation.views)
    for text in (evaluation.versus_plain(view), evaluation.versus_frozen(view)):
        if text:
            console.print(text.replace("**", ""))


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
        typer.Option(
            help="Day of --batch: the UTC day the decisions were logged (YYYY-MM-DD), not the "
            "day parcels were declared (default: the newest day with logged decisions)."
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("report.html"),
    db: Annotated[str, _AUDIT_URL] = "sqlite:///audit.db",
    models_dir: Annotated[Path, typer.Option(help="Where exported models live.")] = Path("models"),
) -> None:
    """Write a self-contained HTML report from the audit log: one parcel, or a day (--batch)."""
    from parcelrisk.audit import logged_day, open_store

    with _user_errors():
        if batch == (parcel_id is not None):
            raise ValueError("give a PARCEL_ID, or --batch for a day's decisions (not both)")
        if day is not None and not batch:
            raise ValueError("--day goes with --batch; a parcel's report covers its decisions")
        if day is not None:
            logged_day(day)
        store = open_store(db)
        from parcelrisk.auditreport import batch_report, parcel_report
        from parcelrisk.htmlpage import write_html

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
    if not all(met for _, _, met in targets):
        console.print(
            "a target not met is a measured limit of the model, not a failed run: "
            "docs/model.md, 'Results on the default generated data', says what limits it"
        )


if __name__ == "__main__":
    app()
