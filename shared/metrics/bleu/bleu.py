"""Corpus BLEU (sacrebleu defaults, 13a tokenisation). Reported for comparability; chrF++ is the main metric,
since BLEU's exact word match punishes Turkish suffix variation."""

import datasets
import evaluate

from shared.eval.text_metrics import bleu, corpus_score

_KWARGS = """
Args:
    predictions: list of generated texts.
    references: list of reference texts (one per prediction).
Returns:
    score: corpus BLEU in [0, 100].
"""


class Bleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Corpus BLEU via sacrebleu.",
            citation="Papineni et al. (2002); Post (2018), A Call for Clarity in Reporting BLEU Scores.",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        return {"score": corpus_score(bleu(), predictions, references)}
