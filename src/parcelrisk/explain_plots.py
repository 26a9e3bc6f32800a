"""Figures of explanations: one parcel's waterfall by input group and a batch's picture.

Every figure is a matplotlib ``Figure`` drawn without pyplot state: a notebook shows it
(``%matplotlib inline``), the audit report embeds it as PNG. Contributions are exact
TreeSHAP values in margin space (log-odds before calibration, see
:mod:`parcelrisk.explain`); the calibrated probability is ``sigmoid(a * margin + b)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from parcelrisk.explain import Explanation, feature_group
from parcelrisk.model import probability_of_margin

#: Colour of each lane in every figure.
LANE_COLOURS = {"inspect": "#c0392b", "review": "#e67e22", "release": "#7f8c8d"}
_RAISES, _LOWERS = "#c0392b", "#2e86c1"
_MARGIN_LABEL = "score before calibration (margin, log-odds)"
#: Marker size and opacity per lane: the rare lanes drawn larger and on top.
_LANE_MARKERS = {"release": (4, 0.35), "review": (9, 0.7), "inspect": (16, 0.95)}
_PROBABILITY_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.99)


def margin_of_probability(p, calibration: tuple[float, float]) -> np.ndarray:
    """The margin whose calibrated probability is ``p`` (the inverse of the above)."""
    a, b = calibration
    p = np.clip(np.asarray(p, float), 1e-12, 1 - 1e-12)
    return (np.log(p / (1 - p)) - b) / a


def waterfall_figure(
    contributions: pd.Series,
    base_value: float,
    calibration: tuple[float, float],
    lanes: Mapping[str, float] | None = None,
    title: str = "why this score",
) -> Figure:
    """From the base value through each input group's contribution to the parcel's score.

    ``contributions``: margin-space contribution per input group (one row of
    ``Explanation.by_group``); ``calibration``: ``(a, b)`` of the model's Platt
    calibration; ``lanes``: thresholds drawn as dashed lines on the probability scale.
    """
    order = contributions.reindex(contributions.abs().sort_values(ascending=False).index)
    margin = base_value + float(order.sum())
    labels = ["average parcel (base value)", *order.index, "this parcel"]
    fig = Figure(figsize=(9, 0.45 * len(labels) + 2.2))
    ax = fig.subplots()
    y = np.arange(len(labels))[::-1]
    ax.plot([base_value], [y[0]], marker="D", color="black")
    running = base_value
    for pos, value in enumerate(order.to_numpy(), start=1):
        colour = _RAISES if value > 0 else _LOWERS
        ax.barh(y[pos], value, left=running, color=colour, height=0.6)
        ax.plot([running, running], [y[pos - 1] - 0.3, y[pos] + 0.3], color="grey", lw=0.6)
        label = f"{value:+.2f}" if abs(value) >= 0.005 else "0.00"
        ax.annotate(
            label, (running + value, y[pos]), xytext=(4 if value >= 0 else -4, 0),
            textcoords="offset points", va="center", ha="left" if value >= 0 else "right",
            fontsize=9,
        )  # fmt: skip
        running += value
    p = float(probability_of_margin(margin, calibration))
    ax.plot([margin], [y[-1]], marker="D", color="black")
    ax.annotate(
        f"probability {p:.1%}", (margin, y[-1]), xytext=(6, 0), textcoords="offset points",
        va="center", fontsize=9, fontweight="bold",
    )  # fmt: skip
    ax.set_yticks(y, labels)
    ax.set_xlabel(_MARGIN_LABEL)
    ax.set_title(title, loc="left")
    xs = [base_value, margin, *(base_value + order.cumsum())]
    if lanes and calibration[0] > 0:
        for lane, threshold in sorted(lanes.items(), key=lambda kv: kv[1]):
            at = float(margin_of_probability(threshold, calibration))
            xs.append(at)
            ax.axvline(at, color=LANE_COLOURS.get(lane, "grey"), ls="--", lw=1)
            ax.annotate(
                f"{lane} at {threshold:.0%}", (at, 1.0), xycoords=("data", "axes fraction"),
                xytext=(3, -3), textcoords="offset points", va="top", fontsize=8,
                color=LANE_COLOURS.get(lane, "grey"),
            )  # fmt: skip
    pad = 0.12 * (max(xs) - min(xs) or 1.0)
    ax.set_xlim(min(xs) - pad, max(xs) + pad)
    if calibration[0] > 0:
        _probability_axis(ax, calibration)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def _probability_axis(ax, calibration: tuple[float, float]) -> None:
    """A top axis labelled in calibrated probability."""
    top = ax.secondary_xaxis(
        "top",
        functions=(
            lambda m: probability_of_margin(m, calibration),
            lambda p: margin_of_probability(p, calibration),
        ),
    )
    lo, hi = probability_of_margin(ax.get_xlim(), calibration)
    ticks = [t for t in _PROBABILITY_TICKS if lo <= t <= hi]
    top.set_xticks(ticks, [f"{t:.1%}".replace(".0%", "%") for t in ticks])
    top.set_xlabel("calibrated probability of a violation", fontsize=9)


def group_importance_figure(
    importance: pd.Series | pd.DataFrame,
    title: str = "importance by input group",
    xlabel: str = "mean |contribution| (margin, log-odds)",
) -> Figure:
    """Horizontal bars per input group; one bar per column when given a frame (models)."""
    data = importance.to_frame() if isinstance(importance, pd.Series) else importance
    data = data.loc[data.abs().max(axis=1).sort_values().index]
    fig = Figure(figsize=(7, 0.45 * len(data) * max(1, len(data.columns) / 2) + 1.5))
    ax = fig.subplots()
    data.plot.barh(ax=ax, legend=len(data.columns) > 1, width=0.8)
    ax.set(xlabel=xlabel, ylabel="input group", title=title)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def group_beeswarm_figure(
    by_group: pd.DataFrame, lanes: Sequence[str], title: str = "contributions by input group"
) -> Figure:
    """Each parcel's contribution per input group, coloured by the lane it was given."""
    lanes = np.asarray(lanes, dtype=object)
    order = by_group.abs().mean().sort_values().index
    fig = Figure(figsize=(8, 0.6 * len(order) + 1.5))
    ax = fig.subplots()
    rng = np.random.default_rng(0)
    for lane, (size, alpha) in _LANE_MARKERS.items():
        rows = lanes == lane
        if not rows.any():
            continue
        for pos, group in enumerate(order):
            values = by_group[group].to_numpy()[rows]
            jitter = rng.uniform(-0.3, 0.3, len(values))
            ax.scatter(
                values, pos + jitter, s=size, alpha=alpha, color=LANE_COLOURS[lane],
                label=lane if pos == 0 else None, linewidths=0,
            )  # fmt: skip
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(order)), order)
    ax.set(xlabel="contribution to the score (margin, log-odds)", title=title)
    ax.legend(title="lane", markerscale=2)
    fig.tight_layout()
    return fig


def lane_contributions_figure(
    by_group: pd.DataFrame, lanes: Sequence[str], title: str = "what drives each lane"
) -> Figure:
    """Mean signed contribution of each input group among the parcels of each lane."""
    means = by_group.groupby(np.asarray(lanes, dtype=object)).mean().T
    present = [lane for lane in ("release", "review", "inspect") if lane in means.columns]
    means = means[present].loc[by_group.abs().mean().sort_values().index]
    fig = Figure(figsize=(8, 0.6 * len(means) + 1.5))
    ax = fig.subplots()
    means.plot.barh(ax=ax, color=[LANE_COLOURS[lane] for lane in present], width=0.8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set(xlabel="mean contribution (margin, log-odds)", ylabel="input group", title=title)
    ax.legend(title="lane")
    fig.tight_layout()
    return fig


def dependence_figure(
    explanation: Explanation, feature: str, lanes: Sequence[str] | None = None
) -> Figure:
    """A feature's value against its contribution, one point per parcel."""
    x = explanation.features[feature].to_numpy(dtype=float)
    shap_values = explanation.by_feature[feature].to_numpy()
    known = ~np.isnan(x)
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    if lanes is None:
        ax.scatter(x[known], shap_values[known], s=8, alpha=0.6, color="#34495e", linewidths=0)
    else:
        lanes = np.asarray(lanes, dtype=object)
        for lane, (size, alpha) in _LANE_MARKERS.items():
            rows = known & (lanes == lane)
            if rows.any():
                ax.scatter(x[rows], shap_values[rows], s=size, alpha=alpha, linewidths=0,
                           color=LANE_COLOURS[lane], label=lane)  # fmt: skip
        ax.legend(title="lane", fontsize=8, markerscale=1.5)
    ax.axhline(0, color="black", lw=0.8)
    missing = int((~known).sum())
    note = f"; {missing:,} parcels without a value not shown" if missing else ""
    ax.set(
        xlabel=f"{feature} (feature value)",
        ylabel="contribution (margin, log-odds)",
        title=f"{feature}\n(input group: {feature_group(feature)}{note})",
    )
    ax.title.set_fontsize(10)
    fig.tight_layout()
    return fig
