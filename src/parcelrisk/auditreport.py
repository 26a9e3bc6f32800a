"""Audit reports: why a logged parcel got its lane, and a summary of a day's decisions.

Everything comes from the audit store (each decision as logged: the input as received,
model version, probability, lane, reasons) and from the exported model of the logged
version. A parcel's explanation is recomputed exactly from its logged request, as replay
does, and checked against the logged probability. Reports are single HTML files:
figures are embedded as PNG data and nothing (script, stylesheet, font) is fetched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from parcelrisk import __version__
from parcelrisk.artifact import LoadedModel, find_model, load_model
from parcelrisk.audit import AuditStore, input_hash, logged_day, logged_span
from parcelrisk.contract import FIELDS_BY_NAME, records_frame
from parcelrisk.explain import (
    INPUT_GROUPS,
    Explanation,
    evidence,
    points_words,
    probability_points,
)
from parcelrisk.explain_plots import LANE_COLOURS, waterfall_figure
from parcelrisk.htmlpage import escape, image, page, table
from parcelrisk.policy import Policy
from parcelrisk.predict import score
from parcelrisk.replay import LoggedHistory, logged_policy, logged_position

LANES = ("inspect", "review", "release")

#: What a lane means for the parcel, in words; thresholds are filled in from the model.
LANE_MEANING = {
    "inspect": "selected for physical inspection: the model's probability that an "
    "inspection finds a violation is at or above the inspect threshold ({inspect:.0%})",
    "review": "flagged for an officer to review the declaration before release: the "
    "probability is at or above the review threshold ({review:.0%}) and below the inspect "
    "threshold ({inspect:.0%})",
    "release": "released without inspection: the probability is below the review "
    "threshold ({review:.0%})",
}

#: What each input group of an explanation covers, in words (as the group declares it).
GROUP_MEANING = {name: group.meaning for name, group in INPUT_GROUPS.items()}


def logged_decisions(
    store: AuditStore,
    *,
    parcel_id: str | None = None,
    day: str | date | None = None,
    request_id: str | None = None,
) -> pd.DataFrame:
    """Logged decisions, oldest first: all, or those of one parcel, one request or a day.

    ``day``: a UTC day decisions were logged (``YYYY-MM-DD``). Columns: ``id``, ``logged_at``
    (UTC), ``request_id``, ``parcel_id``, ``model_version``, ``probability``, ``lane``,
    ``reasons`` (as returned; None if none were), ``input`` (as received),
    ``input_sha256``, ``policy_version``, ``policy_sha256`` and the log position the
    decision's history saw, ``seen_decisions`` and ``seen_outcomes`` (empty for decisions
    logged before live history).
    """
    start = None if day is None else pd.Timestamp(logged_day(day)).tz_localize("UTC")
    since = None if start is None else start.to_pydatetime()
    rows = store.decisions(parcel_id=parcel_id, request_id=request_id, since=since)
    columns = ["id", "logged_at", "request_id", "parcel_id", "model_version", "probability",
               "lane", "reasons", "input", "input_sha256", "policy_version",
               "policy_sha256", "seen_decisions", "seen_outcomes"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    # SQLite keeps no time zone; the store writes UTC
    frame["logged_at"] = pd.to_datetime(frame["logged_at"], utc=True)
    if start is not None:
        frame = frame[
            (frame["logged_at"] >= start) & (frame["logged_at"] < start + pd.Timedelta(days=1))
        ]
    return frame.reset_index(drop=True)


@dataclass(frozen=True)
class Recomputed:
    """Logged decisions explained again from their logged requests with the logged model.

    ``decisions``: the decisions, in the order given; ``declarations``: their logged
    inputs, validated; ``explanation``: exact TreeSHAP of each parcel as scored within its
    request; ``probability``: the recomputed calibrated probability; ``reasons``: the
    reasons as logged, or computed as the service would for parcels logged without.
    """

    decisions: pd.DataFrame
    declarations: pd.DataFrame
    explanation: Explanation
    probability: np.ndarray
    reasons: list[list[dict]]
    model: LoadedModel
    policies: list[Policy]

    @property
    def matches_log(self) -> bool:
        """Whether every recomputed probability equals the logged one exactly."""
        return bool(np.array_equal(self.probability, self.decisions["probability"].to_numpy()))


def recompute(store: AuditStore, models_dir: str | Path, decisions: pd.DataFrame) -> Recomputed:
    """Explain logged decisions of one model version, each within its whole logged request.

    History features count the other parcels of a request and what was logged before it,
    so each request is re-scored whole, under its logged policy and against its logged
    history position (as :mod:`parcelrisk.replay` does), and the wanted rows are kept.
    """
    if decisions.empty:
        raise ValueError("no logged decisions to explain")
    versions = sorted(decisions["model_version"].unique())
    if len(versions) > 1:
        raise ValueError(f"decisions of {len(versions)} model versions {versions}; "
                         "explain one version at a time")  # fmt: skip
    histories = LoggedHistory(store, models_dir)
    model = histories.model(versions[0])
    parts, frames, policies = [], [], []
    requests = [logged_decisions(store, request_id=r) for r in decisions["request_id"].unique()]
    # in the order of the positions they saw: the history is only ever read further
    for request in sorted(requests, key=lambda r: logged_position(r.iloc[0].to_dict())):
        wanted = request["id"].isin(decisions["id"]).to_numpy()
        frame = records_frame(list(request["input"]), model.mapping)  # as it was scored
        first = request.iloc[0].to_dict()
        policy = logged_policy(store, first, model)
        _, live = histories.at(first)
        parts.append(
            (
                request["id"].to_numpy()[wanted],
                score(model.pipeline, frame, policy, explain="all", live=live),
                wanted,
            )
        )
        frames.append(frame[wanted])
        policies += [policy] * int(wanted.sum())
    ids = np.concatenate([ids for ids, _, _ in parts])
    order = pd.Index(ids).get_indexer(decisions["id"])
    es = [(s.explanation, w) for _, s, w in parts]
    explanation = Explanation(
        by_feature=_stack([e.by_feature[w] for e, w in es], order),
        base_value=np.concatenate([e.base_value[w] for e, w in es])[order],
        margin=np.concatenate([e.margin[w] for e, w in es])[order],
        features=_stack([e.features[w] for e, w in es], order),
        calibration_slope=es[0][0].calibration_slope,
        calibration_intercept=es[0][0].calibration_intercept,
    )
    probability = np.concatenate([s.probability[w] for _, s, w in parts])[order]
    computed = [r for _, s, w in parts for r, keep in zip(s.reasons, w, strict=True) if keep]
    why = [
        logged if logged is not None else computed[i]
        for logged, i in zip(decisions["reasons"], order, strict=True)
    ]
    return Recomputed(decisions.reset_index(drop=True), _stack(frames, order), explanation,
                      probability, why, model, [policies[i] for i in order])  # fmt: skip


def _stack(frames: list[pd.DataFrame], order: np.ndarray) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True).iloc[order].reset_index(drop=True)


def _day_policy(store: AuditStore, decisions: pd.DataFrame, models_dir) -> Policy:
    """The policy of the latest of ``decisions`` (thresholds for a day's summary)."""
    last = decisions.iloc[-1].to_dict()
    if last.get("policy_sha256"):
        return store.policy(last["policy_sha256"])
    model = _newest_model(models_dir, decisions["model_version"])
    return logged_policy(store, last, model) if model is not None else Policy()


def parcel_report(store: AuditStore, models_dir: str | Path, parcel_id: str) -> str:
    """HTML report of the latest logged decision of a parcel: lane, reasons, waterfall, input.

    Raises
    ------
    ValueError
        If the store has no decision for ``parcel_id``.
    FileNotFoundError
        If the logged model version is not under ``models_dir``.
    """
    mine = logged_decisions(store, parcel_id=parcel_id)
    if mine.empty:
        raise ValueError(f"no logged decision for parcel {parcel_id!r} in {store.url}")
    done = recompute(store, models_dir, mine.tail(1))
    d = done.decisions.iloc[0]
    lanes = done.policies[0].lanes
    calibration = tuple(float(v) for v in done.model.pipeline[-1].calibration_)
    contributions = done.explanation.by_group.iloc[0]
    figure = waterfall_figure(
        contributions, float(done.explanation.base_value[0]), calibration, lanes,
        title=f"parcel {parcel_id}: from the average parcel to this parcel's score",
    )  # fmt: skip
    body = [
        f"<h1>Parcel <code>{escape(parcel_id)}</code> "
        f"<span class='lane {escape(d['lane'])}'>{escape(d['lane'])}</span></h1>",
        f"<p class='lead'>This parcel was {escape(LANE_MEANING[d['lane']].format(**lanes))}.</p>",
        _facts_cells(d, done, lanes),
        "<h2>Why: the main reasons</h2>",
        _reasons_html(d["reasons"] is not None, done.reasons[0], done.explanation),
        "<h2>How the score adds up</h2>",
        image(figure, "waterfall of contributions by input group"),
        f"<p class='caption'>{_WATERFALL_CAPTION}</p>",
        "<h2>Every input group</h2>",
        _groups_cells(contributions, done),
        "<h2>The declaration as received</h2>",
        _input_cells(d["input"]),
    ]
    if len(mine) > 1:
        body += ["<h2>Every logged decision for this parcel</h2>", _history_cells(mine)]
    return _page(f"parcelrisk: parcel {parcel_id}", body)


_WATERFALL_CAPTION = (
    "Read from the top. The model starts from the score of an average parcel (base value). "
    "Each input group then raises the score (red, to the right) or lowers it (blue, to the "
    "left) by the amount shown. The sum is this parcel's score, shown as a probability on "
    "the top axis; the dashed lines are the lane thresholds. Scores are log-odds before "
    "calibration, where the contributions add up exactly (exact TreeSHAP)."
)


def _facts_cells(d: pd.Series, done: Recomputed, lanes: dict[str, float]) -> str:
    meta = done.model.metadata
    window = meta.get("training_window") or {}
    hash_ok = input_hash(d["input"]) == d["input_sha256"]
    rows = [
        ("probability of a violation", f"{d['probability']:.1%}"),
        ("lane", f"{d['lane']} (review from {lanes['review']:.0%}, inspect from "
                 f"{lanes['inspect']:.0%})"),
        ("decided at", f"{d['logged_at']:%Y-%m-%d %H:%M:%S} UTC"),
        ("model", f"parcelrisk version {done.model.version}, trained on declarations "
                  f"{_day(window.get('start'))} to {_day(window.get('end'))} (declaration "
                  f"contract {meta.get('contract_version', '?')}, code "
                  f"{meta.get('code_version', '?')})"),
        ("request", f"{d['request_id']}"),
        ("input integrity", ("the SHA-256 of the input matches the one logged"
                             if hash_ok else "the input does NOT match its logged SHA-256")),
        ("recomputed now", ("the logged input scored again with the logged model gives the "
                            "same probability" if done.matches_log else
                            f"the logged input scored again gives {done.probability[0]:.6f}, "
                            "NOT the logged probability")),
    ]  # fmt: skip
    return _cells(["", ""], rows, header=False)


#: What the numbers of a reason mean, for the parcel report.
POINTS_NOTE = (
    "Points are percentage points of the probability: the parcel's probability minus the "
    "probability it would have without that input group's contribution (through the same "
    "calibration). Points of several groups do not add up to the probability; the "
    "contributions in log-odds (in brackets) add up to the score exactly, as the waterfall "
    "below shows."
)


def _reasons_html(logged: bool, why: list[dict], explanation: Explanation) -> str:
    note = (
        "The reasons returned with the decision, strongest first."
        if logged
        else "No reasons were returned at the time (they are returned for the inspect and "
        "review lanes); these are computed now from the logged input and model, the same way."
    )
    items = []
    for r in why:
        text = r["text"]
        if "points" not in r:  # logged before reasons carried their points: computed now
            points = probability_points(explanation.margin[0], r["contribution"],
                                        explanation.calibration)  # fmt: skip
            text = f"{points_words(float(points))} (computed now): {text}"
        arrow = "&#9650;" if r["direction"] == "raises" else "&#9660;"
        items.append(
            f"<li><span class='{r['direction']}'>{arrow}</span> <b>{escape(r['group'])}</b>: "
            f"{escape(text)} <small>(log-odds {r['contribution']:+.2f})</small><br>"
            f"<small>{escape(GROUP_MEANING.get(r['group'], ''))}</small></li>"
        )
    return f"<p>{note} {POINTS_NOTE}</p><ol class='reasons'>{''.join(items)}</ol>"


def _groups_cells(contributions: pd.Series, done: Recomputed) -> str:
    features, parcel = done.explanation.features.iloc[0], done.declarations.iloc[0]
    order = contributions.abs().sort_values(ascending=False).index
    points = probability_points(done.explanation.margin[0], contributions[order].to_numpy(),
                                done.explanation.calibration)  # fmt: skip
    rows = [
        (group, points_words(float(moved)) if c else "none", f"{c:+.3f}",
         "raises" if c > 0 else "lowers" if c < 0 else "none",
         evidence(group, features, parcel), GROUP_MEANING.get(group, ""))
        for group, c, moved in zip(order, contributions[order], points, strict=True)
    ]  # fmt: skip
    return _cells(["input group", "probability points", "contribution (log-odds)", "effect",
                   "what the data shows", "what the group covers"], rows)  # fmt: skip


def _input_cells(record: dict) -> str:
    names = [n for n in FIELDS_BY_NAME if n in record] + sorted(set(record) - set(FIELDS_BY_NAME))
    rows = [
        (name, "(not given)" if record[name] is None else str(record[name]),
         FIELDS_BY_NAME[name].doc if name in FIELDS_BY_NAME else "")
        for name in names
    ]  # fmt: skip
    return _cells(["field", "value", "meaning"], rows)


def _history_cells(decisions: pd.DataFrame) -> str:
    rows = [
        (f"{d.logged_at:%Y-%m-%d %H:%M:%S}", d.model_version, f"{d.probability:.1%}", d.lane,
         d.request_id)
        for d in decisions.itertuples()
    ]  # fmt: skip
    return _cells(["logged at (UTC)", "model version", "probability", "lane", "request"], rows)


def batch_report(
    store: AuditStore, day: str | date | None = None, models_dir: str | Path = "models"
) -> str:
    """HTML summary of the decisions logged on one UTC day (default: the newest day).

    ``day`` is the day the decisions were logged (the audit log's clock, UTC), not the
    day their parcels were declared.

    Lanes, the distribution of probabilities, the most frequent reasons (as returned)
    and a breakdown by model version, with the riskiest parcels of the day. A parcel
    decided more than once counts once among the parcels, by its latest decision of the
    day; decisions are counted apart.

    Raises
    ------
    ValueError
        If the store holds no decision, or none was logged on ``day`` (the message says
        how many were logged, and their first and last day).
    """
    span = logged_span(store)
    if not span.count:
        raise ValueError(str(span))
    day = logged_day(day) if day is not None else span.last.date()
    decisions = logged_decisions(store, day=day)
    if decisions.empty:
        raise ValueError(f"no decision was logged on {day} (UTC) in {store.url}: the day is "
                         f"when decisions were logged, not when parcels were declared; "
                         f"{span}")  # fmt: skip
    lanes = _day_policy(store, decisions, models_dir).lanes
    body = [
        f"<h1>Decisions logged on {day} (UTC)</h1>",
        f"<p class='lead'>{len(decisions):,} decisions on {decisions['parcel_id'].nunique():,} "
        f"parcels in {decisions['request_id'].nunique():,} requests, between "
        f"{decisions['logged_at'].min():%H:%M:%S} and {decisions['logged_at'].max():%H:%M:%S} "
        "UTC.</p>",
        "<h2>Lanes</h2>",
        _lanes_cells(decisions, lanes),
        image(
            _probability_figure(latest_per_parcel(decisions), lanes),
            "distribution of probabilities by lane",
        ),
        f"<p class='caption'>{_HISTOGRAM_CAPTION}</p>",
        "<h2>By model version</h2>",
        _versions_cells(decisions),
        "<h2>Most frequent reasons</h2>",
        _reason_counts_html(decisions),
        "<h2>Riskiest parcels of the day</h2>",
        "<p>Each parcel once, by its latest decision of the day. For the full explanation of "
        "one parcel: <code>parcelrisk report PARCEL_ID</code>.</p>",
        _riskiest_cells(decisions),
    ]
    return _page(f"parcelrisk: decisions of {day}", body)


def latest_per_parcel(decisions: pd.DataFrame) -> pd.DataFrame:
    """Each parcel's latest decision among ``decisions`` (oldest first, as logged)."""
    return decisions.drop_duplicates("parcel_id", keep="last").reset_index(drop=True)


_HISTOGRAM_CAPTION = (
    "Each parcel counts once, by its latest decision of the day; the number over a bar is "
    "how many parcels it holds."
)


def _lanes_cells(decisions: pd.DataFrame, lanes: dict[str, float]) -> str:
    counts = decisions["lane"].value_counts()
    latest = latest_per_parcel(decisions)
    parcels = latest["lane"].value_counts()
    rows = [
        (lane, f"{parcels.get(lane, 0):,}", f"{parcels.get(lane, 0) / len(latest):.1%}",
         f"{counts.get(lane, 0):,}", LANE_MEANING[lane].format(**lanes))
        for lane in LANES
    ]  # fmt: skip
    head = ["lane", "parcels (latest decision)", "share of parcels", "decisions",
            "what it means"]  # fmt: skip
    return _cells(head, rows)


def _newest_model(models_dir, versions: pd.Series) -> LoadedModel | None:
    """The model of the newest version logged, when its directory is at hand."""
    try:
        return load_model(find_model(models_dir, sorted(versions.unique())[-1]))
    except FileNotFoundError:
        return None


def _probability_figure(decisions: pd.DataFrame, lanes: dict[str, float]) -> Figure:
    fig = Figure(figsize=(8, 3.6))
    ax = fig.subplots()
    bins = np.linspace(0, 1, 51)
    for lane in reversed(LANES):
        p = decisions.loc[decisions["lane"] == lane, "probability"]
        if len(p):
            _, _, bars = ax.hist(p, bins=bins, color=LANE_COLOURS[lane],
                                 label=f"{lane} ({len(p):,})")  # fmt: skip
            # counts written over the bars: a bin of 1 or 2 is read, not guessed
            ax.bar_label(bars, labels=[f"{b.get_height():.0f}" if b.get_height() else ""
                                       for b in bars], fontsize=7, padding=1)  # fmt: skip
    for lane, threshold in lanes.items():
        ax.axvline(threshold, color=LANE_COLOURS[lane], ls="--", lw=1,
                   label=f"{lane} threshold {threshold:.0%}")  # fmt: skip
    ax.margins(y=0.12)  # room for the count over the highest bar
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # parcels are whole
    ax.set(xlabel="probability of a violation", ylabel="parcels",
           title="distribution of probabilities, by lane", xlim=(0, 1))  # fmt: skip
    ax.legend(title="lane")
    fig.tight_layout()
    return fig


def _versions_cells(decisions: pd.DataFrame) -> str:
    rows = []
    for version, part in decisions.groupby("model_version", sort=True):
        counts = part["lane"].value_counts()
        rows.append((version, f"{len(part):,}", f"{part['parcel_id'].nunique():,}",
                     *(f"{counts.get(lane, 0):,}" for lane in LANES),
                     f"{part['probability'].mean():.2%}"))  # fmt: skip
    head = ["model version", "decisions", "parcels", *(f"{lane} decisions" for lane in LANES),
            "mean probability"]  # fmt: skip
    return _cells(head, rows)


def _reason_counts_html(decisions: pd.DataFrame) -> str:
    given = [(r["group"], r["direction"]) for rs in decisions["reasons"].dropna() for r in rs]
    explained = int(decisions["reasons"].notna().sum())
    if not given:
        return "<p>No reasons were returned on this day (none of the parcels was explained).</p>"
    counts = (
        pd.DataFrame(given, columns=["group", "direction"]).value_counts().unstack(fill_value=0)
    )
    counts = counts.reindex(columns=["raises", "lowers"], fill_value=0)
    counts = counts.loc[counts.sum(axis=1).sort_values(ascending=False).index]
    rows = [
        (group, f"{row['raises']:,}", f"{row['lowers']:,}",
         f"{(row['raises'] + row['lowers']) / explained:.0%}", GROUP_MEANING.get(group, ""))
        for group, row in counts.iterrows()
    ]  # fmt: skip
    head = ["input group", "raised the risk", "lowered the risk", "share of decisions",
            "what the group covers"]  # fmt: skip
    return (
        f"<p>Among the {explained:,} decisions returned with reasons (inspect and review lanes, "
        "or all parcels of requests that asked for them); each decision gives up to three.</p>"
        + _cells(head, rows)
    )


def _riskiest_cells(decisions: pd.DataFrame, top: int = 20) -> str:
    """The ``top`` parcels by the probability of their latest decision, each once."""
    times = decisions["parcel_id"].value_counts()
    rows = []
    for d in latest_per_parcel(decisions).nlargest(top, "probability").itertuples():
        first = d.reasons[0] if d.reasons else None
        reason = f"{first['group']}: {first['text']}" if first else "(no reasons returned)"
        rows.append((d.parcel_id, f"{d.logged_at:%H:%M:%S}", f"{d.probability:.1%}", d.lane,
                     d.model_version, f"{times[d.parcel_id]:,}", reason))  # fmt: skip
    head = ["parcel", "latest decision (UTC)", "probability", "lane", "model",
            "decisions of the day", "main reason"]  # fmt: skip
    return _cells(head, rows)


def _cells(head: list[str], rows: list[tuple], header: bool = True) -> str:
    """A table whose lane names are coloured."""
    return table(head, rows, header=header, cell_class={lane: f"lane {lane}" for lane in LANES})


def _day(stamp) -> str:
    return "?" if stamp is None else f"{pd.Timestamp(stamp):%Y-%m-%d}"


def _page(title: str, body: list[str]) -> str:
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    footer = (
        f"Written {made} by parcelrisk {__version__} from the audit log. Probabilities are "
        "the model's calibrated probability that an inspection would find a violation. "
        "Contributions are exact TreeSHAP values in log-odds before calibration; points are "
        "what a contribution moved the probability, in percentage points."
    )
    return page(title, body, footer)
