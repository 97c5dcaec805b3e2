"""RM-judged metrics: reward models as named judges of the generated answers.

Each judge (`reward_models:` in the eval config; `reward_model:` is the judge named "proxy") is one reward model
or an ensemble (the mean of its members' scores, item by item). For every model it adds `<judge>_score`, the
mean score of the answers, kept per item for paired deltas; the proxy judge also adds `rm_win_rate`, how often
it scores the answer above the reference answer (a win counts 1, a tie 0.5). Each judge's pairwise accuracy and
calibration on held-out preference pairs says how far its scores can be trusted at all.

Independence: a judge is independent only when no policy was trained against it (PPO/GRPO reward) or on its
preference data (DPO/KTO); the proxy is not. The policy may have learned the proxy's blind spots, so a high
proxy score can mean reward hacking; the gold judge, trained on disjoint pairs, is the one to cite.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from shared.eval.stats import estimate
from shared.preference_metrics import preference_metrics

NOTE = (
    "RM-judged: a judge is not independent when a policy was trained on this reward model (or its preference "
    "data); a high score or win rate can then reflect reward hacking. Cite the independent (gold) judge."
)
PROXY = "proxy"  # the judge a policy may have been trained against; the only one with a win rate


class Scorer(Protocol):
    def score(self, prompts: list[str], responses: list[str], batch_size: int = ...) -> list[float]: ...


Member = str | Scorer  # a reward-model path, or a scorer object (tests, or a model already in memory)


@dataclass(frozen=True)
class Judge:
    name: str
    members: tuple[Member, ...]  # more than one: an ensemble, scored as the mean of its members
    independent: bool

    @property
    def metric(self) -> str:
        return f"{self.name}_score"

    def labels(self) -> list[str]:
        return [m if isinstance(m, str) else type(m).__name__ for m in self.members]


def load_scorer(reward_model: str, device: str | None = None, dtype=None) -> Scorer:
    from shared.reward_model import RewardScorer

    return RewardScorer(reward_model, device=device, dtype=dtype)


def outcomes(answer_scores: Sequence[float], reference_scores: Sequence[float]) -> list[float]:
    return [1.0 if a > r else 0.5 if a == r else 0.0 for a, r in zip(answer_scores, reference_scores)]


@dataclass
class JudgeInputs:
    """What the judges score: each model's answers to the same questions, the references, held-out pairs."""

    questions: list[str]
    answers: dict[str, list[str]]  # model name → answers, in question order
    references: list[str]
    test_pairs: list[dict[str, Any]]  # preference rows (prompt, chosen, rejected, defect)


def _member_scores(scorer: Scorer, inputs: JudgeInputs, with_references: bool, batch_size: int) -> dict[str, list]:
    """One member's scores of everything it judges, keyed "answers:<model>", "references", "chosen", "rejected"."""
    scores = {
        f"answers:{name}": scorer.score(inputs.questions, answers, batch_size=batch_size)
        for name, answers in inputs.answers.items()
    }
    if with_references:
        scores["references"] = scorer.score(inputs.questions, inputs.references, batch_size=batch_size)
    if inputs.test_pairs:
        prompts = [row["prompt"] for row in inputs.test_pairs]
        scores["chosen"] = scorer.score(prompts, [row["chosen"] for row in inputs.test_pairs], batch_size=batch_size)
        scores["rejected"] = scorer.score(
            prompts, [row["rejected"] for row in inputs.test_pairs], batch_size=batch_size
        )
    return scores


def _test_report(chosen: Sequence[float], rejected: Sequence[float], pairs: Sequence[dict], n: int, seed: int) -> dict:
    metrics = preference_metrics(list(chosen), list(rejected), {"defect": [row.get("defect") for row in pairs]})
    correct = [float(c > r) for c, r in zip(chosen, rejected)]
    return {"accuracy_ci": estimate(correct, n=n, seed=seed).to_dict(), **metrics}


def run_judges(
    judges: Sequence[Judge],
    inputs: JudgeInputs,
    *,
    load: Callable[[str], Scorer],
    batch_size: int = 8,
    members: bool = False,
    n: int = 1000,
    seed: int = 0,
) -> tuple[dict[str, dict[str, list[float]]], dict[str, dict[str, Any]]]:
    """Score every model's answers with every judge, one reward model in memory at a time.

    Returns (per model: {metric: per-item scores}, per judge: a report with its members, independence and its
    accuracy on the test pairs). Metrics: `<judge>_score`, `rm_win_rate` (proxy only) and, with `members`,
    `<judge>_score/<i>` per ensemble member."""
    per_model: dict[str, dict[str, list[float]]] = {name: {} for name in inputs.answers}
    reports: dict[str, dict[str, Any]] = {}
    for judge in judges:
        start = time.perf_counter()
        runs = []
        for member in judge.members:
            scorer = load(member) if isinstance(member, str) else member
            runs.append(_member_scores(scorer, inputs, judge.name == PROXY and bool(inputs.references), batch_size))
            del scorer  # one reward model in memory at a time
            gc.collect()
        mean_of = {key: np.mean([run[key] for run in runs], axis=0).tolist() for key in runs[0]}
        for name in inputs.answers:
            per_model[name][judge.metric] = mean_of[f"answers:{name}"]
            if "references" in mean_of:
                per_model[name]["rm_win_rate"] = outcomes(mean_of[f"answers:{name}"], mean_of["references"])
            if members and len(runs) > 1:
                for index, run in enumerate(runs):
                    per_model[name][f"{judge.metric}/{index}"] = list(run[f"answers:{name}"])
        report: dict[str, Any] = {
            "members": judge.labels(),
            "independent": judge.independent,
            "seconds": round(time.perf_counter() - start, 1),  # loading and scoring, all members
        }
        if inputs.test_pairs:
            report["test"] = _test_report(mean_of["chosen"], mean_of["rejected"], inputs.test_pairs, n, seed)
            if len(runs) > 1:
                report["member_tests"] = [
                    _test_report(run["chosen"], run["rejected"], inputs.test_pairs, n, seed) for run in runs
                ]
        reports[judge.name] = report
    return per_model, reports
