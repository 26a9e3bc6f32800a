"""Evaluation report: a markdown file with the comparison tables, the targets and plots."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # figures drawn straight to files: no pyplot state
from sklearn.metrics import precision_recall_curve

from parcelrisk.evaluate import label_views, promotion_view


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    return path


def pr_curve_figure(y, scores: Mapping[str, np.ndarray], title: str, w=None) -> Figure:
    """Precision-recall curve of each scorer on one view."""
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    for name, s in scores.items():
        precision, recall, _ = precision_recall_curve(y, s, sample_weight=w)
        ax.plot(recall, precision, label=name)
    ax.set(xlabel="recall", ylabel="precision", title=title, xlim=(0, 1), ylim=(0, 1.02))
    ax.legend()
    fig.tight_layout()
    return fig


def plot_pr_curves(y, scores: dict[str, np.ndarray], path: Path, title: str, w=None) -> Path:
    """Precision-recall curve of each scorer on one view, written to ``path``."""
    return _save(pr_curve_figure(y, scores, title, w), path)


def calibration_figure(
    y, probabilities: Mapping[str, np.ndarray], title: str, w=None, bins: int = 20
) -> Figure:
    """Observed rate against mean predicted probability over equal-mass bins, per model."""
    y = np.asarray(y, float)
    w = np.ones(len(y)) if w is None else np.asarray(w, float)
    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.subplots()
    top = 0.0
    for name, p in probabilities.items():
        p = np.asarray(p, float)
        groups = [g for g in np.array_split(np.argsort(p), bins) if len(g)]
        mean_p = [np.average(p[g], weights=w[g]) for g in groups]
        rate = [np.average(y[g], weights=w[g]) for g in groups]
        ax.plot(mean_p, rate, marker="o", label=name)
        top = max(top, *mean_p, *rate)
    ax.plot([0, top * 1.05], [0, top * 1.05], color="grey", lw=1, ls="--")
    ax.set(xlabel="mean predicted probability", ylabel="observed rate", title=title)
    if len(probabilities) > 1:
        ax.legend()
    fig.tight_layout()
    return fig


def plot_calibration(y, p, path: Path, title: str, w=None, bins: int = 20) -> Path:
    """Observed rate against mean predicted probability, written to ``path``."""
    return _save(calibration_figure(y, {"parcelrisk": p}, title, w, bins), path)


def precision_at_budget_figure(table: pd.DataFrame, view: str) -> Figure:
    """Precision at each inspection budget, one bar group per scorer."""
    budgets = [c for c in table.columns if c.startswith("precision@")]
    data = table.xs(view, level="view")[budgets]
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    data.T.plot.bar(ax=ax, rot=0)
    ax.set(
        xlabel="inspection budget (share of all parcels)",
        ylabel="precision",
        title=f"precision at budget ({view.replace('_', ' ')})",
    )
    fig.tight_layout()
    return fig


def plot_precision_at_budget(table: pd.DataFrame, view: str, path: Path) -> Path:
    """Precision at each inspection budget, written to ``path``."""
    return _save(precision_at_budget_figure(table, view), path)


def write_markdown(
    table: pd.DataFrame,
    targets: list[tuple[str, str, bool]],
    header: dict[str, str],
    plots: list[Path],
    path: Path,
    baseline: str | None = None,
) -> Path:
    """The report: run header, target checks, the model against the plain LightGBM (the
    ``baseline`` sentence), one comparison table per view, plots."""
    lines = ["# parcelrisk evaluation", ""]
    lines += [f"- **{k}**: {v}" for k, v in header.items()]
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {'yes' if ok else '**NO**'} |" for t, m, ok in targets]
    if baseline:
        lines += ["", "## Against a plain LightGBM", "", baseline]
    for view in table.index.get_level_values("view").unique():
        part = table.xs(view, level="view")
        lines += ["", f"## View: {view.replace('_', ' ')}", "", _markdown_table(part)]
    lines += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    path.write_text("\n".join(lines) + "\n")
    return path


def _markdown_table(frame: pd.DataFrame) -> str:
    def fmt(column: str, v) -> str:
        if column in ("n", "positives") or column.startswith("caught"):
            return f"{int(v):,}"
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    head = "| scorer | " + " | ".join(frame.columns) + " |"
    rule = "|---" * (len(frame.columns) + 1) + "|"
    body = [
        f"| {idx} | "
        + " | ".join(fmt(c, v) for c, v in zip(frame.columns, row, strict=True))
        + " |"
        for idx, row in zip(frame.index, frame.to_numpy().tolist(), strict=True)
    ]
    return "\n".join([head, rule, *body])


def importance_figure(importance: pd.Series, top: int = 20) -> Figure:
    """Gain importance of the strongest features."""
    data = importance.sort_values().tail(top)
    fig = Figure(figsize=(7, 0.3 * len(data) + 1))
    ax = fig.subplots()
    ax.barh(data.index, data.to_numpy())
    ax.set(xlabel="total gain", title="feature importance")
    fig.tight_layout()
    return fig


def plot_importance(importance: pd.Series, path: Path, top: int = 20) -> Path:
    """Gain importance of the strongest features, written to ``path``."""
    return _save(importance_figure(importance, top), path)


def headline_view(views) -> str:
    """The view the report plots: the ground truth on generated data, else the promotion
    view (inspected with IPW where the data gives propensities, else inspected)."""
    return "ground_truth" if "ground_truth" in set(views) else promotion_view(views)


def write_report(evaluation, test: pd.DataFrame, out_dir: Path, metadata: dict) -> Path:
    """Write ``evaluation.md``, ``metrics.json``, feature importance and plots to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    views = label_views(test)
    view = headline_view(views)
    rows, y, w = views[view]
    scores = {name: s[rows] for name, (s, _) in evaluation.scores.items()}
    calibrated = promotion_view(views)
    inspected, found, weight = views[calibrated]
    ours = evaluation.scores["parcelrisk"][0]
    booster = metadata["feature_names"]
    gains = pd.Series(metadata.get("importance", {}), dtype=float)
    plots = [
        plot_pr_curves(
            y[rows], scores, out_dir / "pr_curve.png", f"precision-recall ({view})", w[rows]
        ),
        plot_calibration(
            found[inspected], ours[inspected], out_dir / "calibration.png",
            f"calibration ({calibrated.replace('_', ' ')})", weight[inspected],
        ),
        plot_precision_at_budget(evaluation.table, view, out_dir / "precision_at_budget.png"),
    ]  # fmt: skip
    if len(gains):
        gains.rename("gain").to_csv(out_dir / "feature_importance.csv", index_label="feature")
        plots.append(plot_importance(gains, out_dir / "feature_importance.png"))
    header = {
        "model version": metadata["version"],
        **_windows(metadata),
        "labelled training parcels": f"{metadata['n_labelled']:,} of "
        f"{metadata['n_train_parcels']:,} (weighting: {metadata['weighting']})",
        "features": str(len(booster)),
    }
    made = metadata.get("made_missing") or {}
    if made:
        header["invalid values read as missing (on_invalid: missing)"] = ", ".join(
            f"{role} {n:,}" for role, n in made.items()
        )
    (out_dir / "metrics.json").write_text(json.dumps(evaluation.metrics(), indent=2) + "\n")
    return write_markdown(
        evaluation.table, evaluation.targets, header, plots, out_dir / "evaluation.md",
        baseline=evaluation.versus_plain(view),
    )  # fmt: skip


def _windows(metadata: dict[str, Any]) -> dict[str, str]:
    """The windows of the evaluated model and, when it was refit, of the exported one."""

    def span(window: dict[str, str]) -> str:
        return f"{window['start']} .. {window['end']}"

    test = span(metadata["test_window"])
    if not metadata.get("refit"):
        return {"training window": span(metadata["training_window"]), "test window": test}
    return {
        "evaluated model's training window": span(metadata["evaluation_training_window"]),
        "test window": test,
        "exported model": f"refit on every parcel {span(metadata['training_window'])} "
        f"({metadata['n_trees']} trees; the evaluated model had "
        f"{metadata['evaluation_n_trees']})",
    }
