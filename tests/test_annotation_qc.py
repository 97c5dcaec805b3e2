"""Annotation app: QC statistics against hand-computed values."""

import math
from datetime import datetime, timedelta

import numpy as np
import pytest

from annotation_app import qc
from annotation_app.records import CandidateInfo, VoteRecord
from annotation_app.storage import GOLD_MODEL, GOLD_REJECTED_MODEL

T0 = datetime(2026, 5, 1, 9, 0, 0)


def record(
    item,
    annotator,
    choice,
    *,
    models=("m1", "m2"),
    vote_id=None,
    is_gold=False,
    repeat_of=None,
    assignment_id=None,
    seconds=10,
    flags=(),
    swapped=False,
):
    a = CandidateInfo(2 * item, models[0], "", f"cevap a {item}")
    b = CandidateInfo(2 * item + 1, models[1], "", f"cevap b {item}")
    vote_id = vote_id or hash((item, annotator, repeat_of)) % 10**6
    return VoteRecord(
        vote_id=vote_id,
        assignment_id=assignment_id or vote_id,
        item_id=item,
        prompt_id=item,
        prompt_external_id=f"p{item}",
        prompt=f"soru {item}",
        category="sebze",
        crop="",
        region="",
        season="",
        annotator=annotator,
        candidate_a=a,
        candidate_b=b,
        left_candidate_id=b.id if swapped else a.id,
        choice=choice,
        time_spent_ms=seconds * 1000,
        comment="",
        shown_at=T0,
        created_at=T0 + timedelta(seconds=seconds),
        is_gold=is_gold,
        is_swap_repeat=repeat_of is not None,
        repeat_of_id=repeat_of,
        ratings=(),
        flags=flags,
        corrections=(),
    )


def two_raters(first, second):
    return [record(i, "r1", c) for i, c in enumerate(first)] + [record(i, "r2", c) for i, c in enumerate(second)]


def test_cohen_kappa_matches_hand_computation():
    # r1 = a a b b, r2 = a b b b: p_o = 3/4, p_e = .5*.25 + .5*.75 = .5 → kappa = .5
    records = two_raters(
        ["a_better", "a_much_better", "b_better", "b_better"], ["a_better", "b_better", "b_much_better", "b_better"]
    )
    (row,) = qc.cohen_pairs(records)
    assert (row["annotator_1"], row["annotator_2"], row["items"]) == ("r1", "r2", 4)
    assert row["raw_agreement"] == 0.75
    assert row["cohen_kappa"] == pytest.approx(0.5)


def test_fleiss_kappa_matches_hand_computation():
    # items: (a,a,a) (a,a,b) (b,b,tie): P̄ = 5/9, P̄e = 35/81 → kappa = 10/46
    labels = [("a_better",) * 3, ("a_better", "a_much_better", "b_better"), ("b_better", "b_better", "tie")]
    records = [record(i, f"r{j}", c) for i, row in enumerate(labels) for j, c in enumerate(row)]
    kappa, items = qc.fleiss(records)
    assert items == 3
    assert kappa == pytest.approx(10 / 46, abs=1e-4)


def test_krippendorff_alpha_matches_hand_computation():
    # nominal, two coders, units (a,a) (a,b) (b,b) (b,b): D_o = 2/8, D_e = 2*3*5/(8*7) → alpha = 8/15
    records = two_raters(
        ["a_better", "a_better", "b_better", "b_better"], ["a_better", "b_better", "b_better", "b_better"]
    )
    assert qc.krippendorff_alpha(records, "nominal") == pytest.approx(8 / 15, abs=1e-4)
    perfect = two_raters(["a_better", "tie", "b_better"], ["a_better", "tie", "b_better"])
    assert qc.krippendorff_alpha(perfect, "ordinal") == pytest.approx(1.0)
    assert qc.krippendorff_alpha(two_raters(["tie"], ["tie"]), "nominal") is None


def test_swap_repeats_are_left_out_of_agreement_and_scored_for_self_consistency():
    originals = [record(1, "r1", "a_better", vote_id=1), record(2, "r1", "b_better", vote_id=2)]
    repeats = [
        record(1, "r1", "a_much_better", vote_id=3, repeat_of=1),  # same direction
        record(2, "r1", "tie", vote_id=4, repeat_of=2),
    ]  # changed its mind
    assert qc.self_consistency(originals + repeats) == {"r1": (1, 2)}
    assert qc.originals(originals + repeats) == originals


def test_annotator_stats_gold_accuracy_and_median_time():
    gold = ("m", GOLD_MODEL)  # candidate b is the gold answer
    records = [
        record(1, "r1", "b_better", models=gold, is_gold=True, seconds=4),
        record(2, "r1", "a_better", models=(GOLD_REJECTED_MODEL, GOLD_MODEL), is_gold=True, seconds=6),
        record(3, "r1", "tie", seconds=20),
    ]
    (row,) = qc.annotator_stats(records, {"r1": {"done": 3, "skipped": 1}})
    assert (row["votes"], row["skipped"], row["gold_items"], row["gold_accuracy"]) == (3, 1, 2, 0.5)
    assert row["median_time_s"] == 6.0


def test_disagreements_list_split_items_only():
    records = two_raters(["a_better", "tie", "b_better"], ["a_much_better", "b_better", "b_better"])
    rows = qc.disagreements(records)
    assert [row.item_id for row in rows] == [1]
    assert [(v.annotator, v.displayed_choice, v.preferred_answer) for v in rows[0].votes] == [
        ("r1", "tie", None),
        ("r2", "b_better", 2),
    ]
    assert [a.text for a in rows[0].answers] == ["cevap a 1", "cevap b 1"] and rows[0].prompt == "soru 1"


def test_disagreements_show_each_vote_as_its_annotator_saw_it():
    # both clicked "B daha iyi", but r2 saw the answers swapped: stored b_better vs a_better, a real disagreement
    records = [record(7, "r1", "b_better"), record(7, "r2", "a_better", swapped=True)]
    (row,) = qc.disagreements(records)
    seen = [(v.annotator, v.displayed_choice, v.left_answer, v.preferred_answer) for v in row.votes]
    assert seen == [("r1", "b_better", 1, 2), ("r2", "b_better", 2, 1)]


def test_bradley_terry_recovers_a_known_ratio():
    # no prior: 3 wins of 4 → p_i / p_j = 3
    scores = qc.bradley_terry(2, [(0, 1, 1.0)] * 3 + [(0, 1, 0.0)], prior=0.0)
    assert scores[0] - scores[1] == pytest.approx(math.log(3), abs=1e-6)


def test_win_rates_rank_models_with_bootstrap_intervals():
    rng = np.random.default_rng(0)
    records, item = [], 0
    for strong, weak, p_win in (("big", "mid", 0.8), ("mid", "small", 0.75), ("big", "small", 0.9)):
        for _ in range(60):
            item += 1
            choice = "a_better" if rng.random() < p_win else "b_better"
            records.append(record(item, "r1", choice, models=(strong, weak)))
    records.append(record(999, "r1", "both_bad", models=("big", "small")))  # no preference: left out
    records.append(record(998, "r1", "b_better", models=("big", GOLD_MODEL), is_gold=True))  # gold: left out
    rows = qc.win_rates(records, bootstrap_samples=100, seed=0)
    assert [row["model"] for row in rows] == ["big", "mid", "small"]
    assert [row["comparisons"] for row in rows] == [120, 120, 120]
    big = rows[0]
    assert big["win_rate"] == pytest.approx((48 + 54) / 120, abs=0.08)
    for row in rows:
        low, high = row["win_rate_ci95"]
        assert low <= row["win_rate"] <= high and high - low < 0.3
        low, high = row["bt_ci95"]
        assert low <= row["bt_score"] <= high
    assert rows[0]["bt_ci95"][0] > rows[2]["bt_ci95"][1]  # clearly separated


def test_build_report_on_no_votes_is_empty_not_an_error():
    report = qc.build_report([], {}, bootstrap_samples=10)
    assert report.win_rates == [] and report.cohen_pairs == [] and report.agreement["fleiss_kappa"] is None
