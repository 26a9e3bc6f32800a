"""Audit reports: decisions logged as the service logs them, explained again and written as HTML.

The session model is exported with low lane thresholds so that every lane occurs; 600
test-window parcels are decided in three requests of 200 and logged in a SQLite store.
"""

from __future__ import annotations

import base64
import html
import json
import re
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from parcelrisk.artifact import load_model, save_model
from parcelrisk.audit import AuditStore, Decision, open_store
from parcelrisk.auditreport import (
    GROUP_MEANING,
    LANE_MEANING,
    batch_report,
    logged_decisions,
    parcel_report,
    recompute,
)
from parcelrisk.cli import app
from parcelrisk.explain import INPUT_GROUPS, feature_group, points_words, reasons
from parcelrisk.explain_plots import (
    dependence_figure,
    group_beeswarm_figure,
    group_importance_figure,
    lane_contributions_figure,
    margin_of_probability,
    probability_of_margin,
    waterfall_figure,
)
from parcelrisk.history_store import HistoryFollower, decide_and_log
from parcelrisk.policy import Policy
from parcelrisk.predict import decide, log_decisions
from parcelrisk.replay import reasons_on_demand, replay
from parcelrisk.tracking import example_input

PNG = b"\x89PNG\r\n\x1a\n"
POLICY = Policy(version="test", inspect=0.3, review=0.1)
LANES = POLICY.lanes


def log_requests(store: AuditStore, model, records: list[dict], size: int) -> None:
    """Decide and log records in requests of ``size``, as the service does."""
    history = HistoryFollower(store, model)
    for start in range(0, len(records), size):
        decide_and_log(history, records[start : start + size], POLICY)


@pytest.fixture(scope="module")
def audit(fitted, split, tmp_path_factory):
    root = tmp_path_factory.mktemp("audit")
    metadata = {
        "version": "test-1",
        "training_window": {"start": str(split.train["declared_at"].min()),
                            "end": str(split.cutoff)},
    }  # fmt: skip
    save_model(fitted.pipeline, root / "models" / "parcelrisk-test-1", metadata)
    model = load_model(root / "models" / "parcelrisk-test-1")
    records = json.loads(example_input(split.test, 600).to_json(orient="records"))
    url = f"sqlite:///{root / 'audit.db'}"
    store = AuditStore(url)
    log_requests(store, model, records, 200)
    decisions = logged_decisions(store)
    return SimpleNamespace(root=root, models=root / "models", url=url, store=store,
                           model=model, decisions=decisions)  # fmt: skip


def _pick(audit, lane: str) -> str:
    return audit.decisions.loc[audit.decisions["lane"] == lane, "parcel_id"].iloc[0]


def test_every_lane_occurs_in_the_logged_decisions(audit):
    assert set(audit.decisions["lane"]) == {"inspect", "review", "release"}
    assert audit.decisions["request_id"].nunique() == 3
    assert str(audit.decisions["logged_at"].dt.tz) == "UTC"


def test_recomputed_decisions_match_the_log_exactly(audit):
    done = recompute(audit.store, audit.models, audit.decisions)
    assert done.matches_log
    e = done.explanation
    np.testing.assert_allclose(
        e.base_value + e.by_group.sum(axis=1).to_numpy(), e.margin, atol=1e-6, rtol=0
    )
    # reasons computed from the recomputed explanation are the ones returned at the time
    again = json.loads(json.dumps(reasons(e, done.declarations, top=3, direction="both")))
    logged = audit.decisions["reasons"]
    explained = logged.notna().to_numpy()
    assert explained.any() and not explained.all()
    assert [again[i] for i in np.flatnonzero(explained)] == list(logged[explained])
    assert list(done.declarations["parcel_id"]) == list(audit.decisions["parcel_id"])


def test_a_subset_is_explained_as_scored_within_its_whole_request(audit):
    subset = audit.decisions.iloc[[450, 5, 230]]
    done = recompute(audit.store, audit.models, subset)
    full = recompute(audit.store, audit.models, audit.decisions)
    np.testing.assert_array_equal(done.probability, full.probability[[450, 5, 230]])
    np.testing.assert_array_equal(done.explanation.margin, full.explanation.margin[[450, 5, 230]])
    assert done.matches_log


def test_decisions_of_two_model_versions_are_not_mixed(audit):
    mixed = audit.decisions.head(2).copy()
    mixed.loc[1, "model_version"] = "other"
    with pytest.raises(ValueError, match=r"2 model versions \['other', 'test-1'\]"):
        recompute(audit.store, audit.models, mixed)


def _images(text: str) -> list[bytes]:
    found = re.findall(r"<img src='data:image/png;base64,([A-Za-z0-9+/=]+)'", text)
    return [base64.b64decode(b) for b in found]


def _self_contained(text: str) -> None:
    assert "<script" not in text and "<link" not in text
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", text)
    assert "@import" not in text and "url(" not in text


def test_parcel_report_shows_decision_reasons_waterfall_and_input(audit):
    pid = _pick(audit, "inspect")
    d = audit.decisions.set_index("parcel_id").loc[pid]
    text = parcel_report(audit.store, audit.models, pid)
    _self_contained(text)
    [png] = _images(text)
    assert png.startswith(PNG)
    assert f"Parcel <code>{pid}</code>" in text
    assert html.escape(LANE_MEANING["inspect"].format(**LANES)) in text
    assert f"{d['probability']:.1%}" in text and "test-1" in text
    assert "gives the same probability" in text and "matches the one logged" in text
    assert "The reasons returned with the decision" in text
    for r in d["reasons"]:
        assert html.escape(r["text"]) in text
    features = audit.model.pipeline[-1].feature_names_in_
    for group in {feature_group(str(name)) for name in features}:  # every group the model has
        assert f"<td>{group}</td>" in text
    assert f"<td>{html.escape(d['input']['seller_name'])}</td>" in text


def test_released_parcel_report_computes_reasons_like_replay(audit):
    pid = _pick(audit, "release")
    text = parcel_report(audit.store, audit.models, pid)
    assert "No reasons were returned at the time" in text
    for r in reasons_on_demand(audit.store, audit.models, pid):
        assert html.escape(r["text"]) in text
        assert f"(log-odds {r['contribution']:+.2f})" in text
    assert "Points are percentage points of the probability" in text


def _old_format(results: list[dict]) -> list[dict]:
    """Decisions as logged before reasons carried probability points (text: evidence only)."""
    return [
        {**r, "reasons": None if r["reasons"] is None else [
            {"group": x["group"], "contribution": x["contribution"],
             "direction": x["direction"], "text": x["text"].split(" risk: ", 1)[1]}
            for x in r["reasons"]
        ]}
        for r in results
    ]  # fmt: skip


def test_reasons_logged_without_points_replay_and_are_reported_with_points(audit, tmp_path):
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    records = list(audit.decisions["input"].iloc[:40])
    old = _old_format(decide(audit.model, records, POLICY))
    log_decisions(store, audit.model, POLICY, records, old)
    assert replay(store, audit.models).differences == []
    # compared on the fields they have: a contribution logged otherwise is a difference
    flagged = next(i for i, r in enumerate(old) if r["reasons"])
    old[flagged]["reasons"][0]["contribution"] += 1e-9
    log_decisions(store, audit.model, POLICY, records, old)
    [difference] = replay(store, audit.models).differences
    assert difference["parcel_id"] == old[flagged]["parcel_id"] and "reasons" in difference
    # the parcel report computes the points the old log lacks, with the same function
    pid = old[flagged]["parcel_id"]
    text = parcel_report(store, audit.models, pid)
    fresh = decide(audit.model, records, POLICY)[flagged]["reasons"]
    for r, now in zip(old[flagged]["reasons"], fresh, strict=True):
        assert html.escape(f"{points_words(now['points'])} (computed now): {r['text']}") in text


def test_new_reasons_are_compared_on_every_field(audit, tmp_path):
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    records = list(audit.decisions["input"].iloc[:40])
    results = decide(audit.model, records, POLICY)
    flagged = next(i for i, r in enumerate(results) if r["reasons"])
    results[flagged]["reasons"][0]["text"] += " (edited)"
    log_decisions(store, audit.model, POLICY, records, results)
    [difference] = replay(store, audit.models).differences
    assert difference["parcel_id"] == results[flagged]["parcel_id"]


def test_report_escapes_the_logged_input(audit, tmp_path):
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    record = dict(audit.decisions["input"].iloc[0])
    record["description"] = "<script>alert('x')</script> gift"
    log_requests(store, audit.model, [record], 1)
    text = parcel_report(store, audit.models, record["parcel_id"])
    assert "<script" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; gift" in text


def test_report_says_when_the_log_and_the_model_disagree(audit, tmp_path):
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    d = audit.decisions.iloc[0]
    store.append_decisions([Decision("r1", d["parcel_id"], d["input"], "test-1", 0.987,
                                     "inspect", None)])  # fmt: skip
    text = parcel_report(store, audit.models, d["parcel_id"])
    assert "NOT the logged probability" in text


def test_every_decision_of_a_parcel_is_listed(audit, tmp_path):
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    record = audit.decisions["input"].iloc[0]
    log_requests(store, audit.model, [record], 1)
    log_requests(store, audit.model, [record], 1)
    text = parcel_report(store, audit.models, record["parcel_id"])
    assert "Every logged decision for this parcel" in text


def test_unknown_parcel_is_refused(audit):
    with pytest.raises(ValueError, match="no logged decision for parcel 'nope' in sqlite:///"):
        parcel_report(audit.store, audit.models, "nope")


def test_batch_report_summarises_lanes_reasons_and_versions(audit):
    text = batch_report(audit.store, None, audit.models)
    _self_contained(text)
    [png] = _images(text)
    assert png.startswith(PNG)
    day = audit.decisions["logged_at"].iloc[0].date()
    assert f"Decisions logged on {day} (UTC)" in text
    counts = audit.decisions["lane"].value_counts()
    for lane in ("inspect", "review", "release"):
        share = f"{counts[lane] / len(audit.decisions):.1%}"
        assert f"<td class='lane {lane}'>{lane}</td><td>{counts[lane]:,}</td><td>{share}</td>" in (
            text
        )
    assert "<td>test-1</td><td>600</td>" in text
    riskiest = audit.decisions.nlargest(1, "probability")["parcel_id"].iloc[0]
    assert f"<td>{riskiest}</td>" in text
    top_group = audit.decisions["reasons"].dropna().iloc[0][0]["group"]
    assert f"<td>{top_group}</td>" in text
    same_day = batch_report(audit.store, str(day), audit.models)
    assert same_day[: same_day.index("<footer>")] == text[: text.index("<footer>")]


@pytest.fixture(scope="module")
def repeated(audit, tmp_path_factory):
    """30 parcels in 50 decisions: the 10 riskiest of them decided three times."""
    store = AuditStore(f"sqlite:///{tmp_path_factory.mktemp('repeated') / 'audit.db'}")
    decisions = audit.decisions.iloc[:200]
    top = decisions.nlargest(10, "probability").index
    records = list(decisions.loc[top.union(decisions.index.difference(top)[:20]), "input"])
    riskiest = list(decisions.loc[top, "input"])
    log_requests(store, audit.model, records, 30)
    log_requests(store, audit.model, riskiest, 1)
    log_requests(store, audit.model, riskiest, 10)
    return SimpleNamespace(store=store, logged=logged_decisions(store),
                           text=batch_report(store, None, audit.models))  # fmt: skip


def test_day_report_counts_parcels_once_and_decisions_apart(repeated):
    logged, text = repeated.logged, repeated.text
    assert len(logged) == 50 and logged["parcel_id"].nunique() == 30
    assert "50 decisions on 30 parcels in 12 requests" in text
    latest = logged.drop_duplicates("parcel_id", keep="last")["lane"].value_counts()
    every = logged["lane"].value_counts()
    assert latest.sum() == 30
    for lane in ("inspect", "review", "release"):
        parcels, decisions = latest.get(lane, 0), every.get(lane, 0)
        assert (f"<td class='lane {lane}'>{lane}</td><td>{parcels:,}</td>"
                f"<td>{parcels / 30:.1%}</td><td>{decisions:,}</td>") in text  # fmt: skip
    assert "<th>parcels (latest decision)</th>" in text and "<th>decisions</th>" in text
    assert "<td>test-1</td><td>50</td><td>30</td>" in text


def test_riskiest_parcels_are_listed_once_with_their_decisions(repeated):
    logged, text = repeated.logged, repeated.text
    riskiest = text[text.index("Riskiest parcels of the day") :]
    times = logged["parcel_id"].value_counts()
    assert (times == 3).sum() == 10
    listed = re.findall(r"<tr><td>([^<]+)</td><td>\d\d:\d\d:\d\d</td>", riskiest)
    assert len(listed) == len(set(listed)) == 20
    for pid in times[times == 3].index:  # the repeated ones are the riskiest
        assert riskiest.count(f"<td>{pid}</td>") == 1
        assert re.search(f"<td>{pid}</td>(<td[^>]*>[^<]*</td>){{4}}<td>3</td>", riskiest)


def test_day_histogram_shows_every_parcel_on_a_linear_scale_with_counts(repeated, audit):
    from parcelrisk.auditreport import _probability_figure, latest_per_parcel

    latest = latest_per_parcel(repeated.logged)
    ax = _probability_figure(latest, LANES).axes[0]
    assert ax.get_yscale() == "linear" and ax.get_ylabel() == "parcels"
    counts = [int(t.get_text()) for t in ax.texts if t.get_text()]
    assert sum(counts) == 30 and min(counts) == 1  # a bin of one parcel is labelled
    heights = [p.get_height() for p in ax.patches if p.get_height() > 0]
    assert sorted(heights) == sorted(counts)


def test_batch_report_refuses_an_empty_day_and_a_bad_date(audit, tmp_path):
    day = audit.decisions["logged_at"].iloc[0].date()
    message = (r"no decision was logged on 2020-01-01 \(UTC\) in .*: the day is when decisions "
               r"were logged, not when parcels were declared; "
               rf"600 decision\(s\) logged in .* from {day} to {day} \(UTC\)$")  # fmt: skip
    with pytest.raises(ValueError, match=message):
        batch_report(audit.store, "2020-01-01", audit.models)
    with pytest.raises(ValueError, match="day '2020-13-01' is not a date of the form YYYY-MM-DD"):
        batch_report(audit.store, "2020-13-01", audit.models)
    with pytest.raises(ValueError, match="no decision is logged in sqlite:///"):
        batch_report(AuditStore(f"sqlite:///{tmp_path / 'empty.db'}"), None, audit.models)


def test_a_missing_sqlite_store_is_not_created(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"audit store sqlite:///.*nope\.db does not exist"):
        open_store(f"sqlite:///{tmp_path / 'nope.db'}")
    assert not (tmp_path / "nope.db").exists()


def test_every_input_group_and_lane_is_described():
    assert set(GROUP_MEANING) == set(INPUT_GROUPS)
    assert set(LANE_MEANING) == {"inspect", "review", "release"}
    for text in LANE_MEANING.values():
        assert "%" in text.format(**LANES)


def test_probability_and_margin_are_inverse(audit):
    calibration = tuple(audit.model.pipeline[-1].calibration_)
    margins = np.linspace(-6, 3, 7)
    p = probability_of_margin(margins, calibration)
    np.testing.assert_allclose(margin_of_probability(p, calibration), margins, atol=1e-9)


def test_waterfall_ends_at_the_parcels_probability(audit):
    done = recompute(audit.store, audit.models, audit.decisions.head(1))
    calibration = tuple(audit.model.pipeline[-1].calibration_)
    fig = waterfall_figure(
        done.explanation.by_group.iloc[0], float(done.explanation.base_value[0]), calibration,
        LANES,
    )  # fmt: skip
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert f"probability {done.probability[0]:.1%}" in texts
    assert {"inspect at 30%", "review at 10%"} <= set(texts)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "average parcel (base value)" and labels[-1] == "this parcel"
    assert set(labels[1:-1]) == set(done.explanation.by_group.columns)


def _labels(ax) -> tuple[str, str, str]:
    return ax.get_xlabel(), ax.get_ylabel(), ax.get_title()


def _ticks(ax) -> list[str]:
    return [t.get_text() for t in ax.get_yticklabels()]


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


@pytest.fixture(scope="module")
def batch(audit):
    """The 600 logged decisions explained again; groups least important first."""
    done = recompute(audit.store, audit.models, audit.decisions)
    by_group = done.explanation.by_group
    return SimpleNamespace(
        explanation=done.explanation, by_group=by_group, lanes=done.decisions["lane"].to_numpy(),
        order=list(by_group.abs().mean().sort_values().index),
        present=["release", "review", "inspect"],  # every lane occurs, drawn in this order
    )  # fmt: skip


def test_group_importance_figure_draws_mean_absolute_contributions(batch):
    importance = batch.by_group.abs().mean()
    ax = group_importance_figure(importance).axes[0]
    assert _labels(ax) == ("mean |contribution| (margin, log-odds)", "input group",
                           "importance by input group")  # fmt: skip
    assert _ticks(ax) == batch.order
    widths = [bar.get_width() for bar in ax.patches]
    np.testing.assert_allclose(widths, importance[batch.order], rtol=1e-12)


def test_group_beeswarm_figure_draws_every_parcels_contribution_by_lane(batch):
    ax = group_beeswarm_figure(batch.by_group, batch.lanes).axes[0]
    assert _labels(ax) == ("contribution to the score (margin, log-odds)", "",
                           "contributions by input group")  # fmt: skip
    assert _ticks(ax) == batch.order and _legend(ax) == batch.present
    drawn = [(lane, group) for lane in batch.present for group in batch.order]
    assert len(ax.collections) == len(drawn)
    for points, (lane, group) in zip(ax.collections, drawn, strict=True):
        xy = points.get_offsets()
        np.testing.assert_array_equal(xy[:, 0], batch.by_group[group][batch.lanes == lane])
        assert (np.abs(xy[:, 1] - batch.order.index(group)) <= 0.3).all()  # jittered row


def test_lane_contributions_figure_draws_each_lanes_mean_contributions(batch):
    ax = lane_contributions_figure(batch.by_group, batch.lanes).axes[0]
    assert _labels(ax) == ("mean contribution (margin, log-odds)", "input group",
                           "what drives each lane")  # fmt: skip
    assert _ticks(ax) == batch.order and _legend(ax) == batch.present
    means = batch.by_group.groupby(batch.lanes).mean()
    expected = [means.loc[lane, group] for lane in batch.present for group in batch.order]
    np.testing.assert_allclose([bar.get_width() for bar in ax.patches], expected, rtol=1e-12)


def test_dependence_figure_draws_known_values_and_counts_the_missing(batch):
    e = batch.explanation
    feature = e.by_feature.abs().mean().idxmax()
    x = e.features[feature].to_numpy(dtype=float)
    missing = int(np.isnan(x).sum())
    assert missing > 0  # so that the title's note is drawn
    ax = dependence_figure(e, feature, batch.lanes).axes[0]
    assert _labels(ax) == (
        f"{feature} (feature value)", "contribution (margin, log-odds)",
        f"{feature}\n(input group: {feature_group(feature)}; {missing:,} parcels without a "
        "value not shown)",
    )  # fmt: skip
    assert _legend(ax) == batch.present
    contribution = e.by_feature[feature].to_numpy()
    for points, lane in zip(ax.collections, batch.present, strict=True):
        rows = (batch.lanes == lane) & ~np.isnan(x)
        np.testing.assert_array_equal(points.get_offsets(), np.c_[x[rows], contribution[rows]])


# --- the command line -----------------------------------------------------------------------------

runner = CliRunner()


def test_cli_writes_a_parcel_report(audit, tmp_path):
    pid = _pick(audit, "review")
    out = tmp_path / "r" / "parcel.html"
    args = ["report", pid, "--db", audit.url, "--models-dir", str(audit.models), "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"Parcel <code>{pid}</code>" in out.read_text()


def test_cli_writes_a_batch_report(audit, tmp_path):
    day = str(audit.decisions["logged_at"].iloc[0].date())
    out = tmp_path / "day.html"
    args = ["report", "--batch", "--day", day, "--db", audit.url, "--models-dir",
            str(audit.models), "--out", str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"Decisions logged on {day} (UTC)" in out.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "no logged decision for parcel 'nope'"),
        ([], "give a PARCEL_ID, or --batch for a day's decisions (not both)"),
        (["P1", "--batch"], "give a PARCEL_ID, or --batch for a day's decisions (not both)"),
        (["P1", "--day", "2025-05-01"], "--day goes with --batch"),
        (["--batch", "--day", "2020-01-01"], "no decision was logged on 2020-01-01 (UTC)"),
    ],
)
def test_cli_refuses_clearly(audit, tmp_path, args, message):
    common = ["--db", audit.url, "--models-dir", str(audit.models), "--out", str(tmp_path / "x")]
    result = runner.invoke(app, ["report", *args, *common])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "x").exists()


def test_cli_refuses_a_missing_store(tmp_path):
    result = runner.invoke(app, ["report", "P1", "--db", f"sqlite:///{tmp_path / 'no.db'}"])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert not (tmp_path / "no.db").exists()
