"""Atomic-fact recall: the share of an item's reference facts that its answer states.

Matching rule (shared.eval.text_metrics.fact_found): after Turkish normalisation every word of a fact must occur
in the answer; words of 3+ letters may carry suffixes ("sulama" ↔ "sulamayı") and a softened final p/ç/t/k
("toprak" ↔ "toprağı"); numbers and short words must match exactly.
"""

import datasets
import evaluate

from shared.eval.text_metrics import fact_recall

_KWARGS = """
Args:
    predictions: list of generated answers.
    references: list of fact lists (the facts of each item).
Returns:
    fact_recall: mean over items; scores: recall per item.
"""


class FactRecall(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Share of an item's atomic facts found in its answer, averaged over items.",
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Sequence(datasets.Value("string"))}
            ),
        )

    def _compute(self, predictions, references):
        scores = [fact_recall(answer, facts) for answer, facts in zip(predictions, references)]
        return {"fact_recall": sum(scores) / len(scores) if scores else float("nan"), "scores": scores}
