"""chrF++ (sacrebleu, character 6-grams + word bigrams): character-based, so it suits agglutinative Turkish."""

import datasets
import evaluate

from shared.eval.text_metrics import chrf_plus_plus, corpus_score, sentence_scores

_KWARGS = """
Args:
    predictions: list of generated texts.
    references: list of reference texts (one per prediction).
Returns:
    score: corpus-level chrF++ in [0, 100]; sentence_scores: chrF++ per item.
"""


class Chrf(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Corpus chrF++ (sacrebleu CHRF(word_order=2)).",
            citation="Popović (2017), chrF++: words helping character n-grams.",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        metric = chrf_plus_plus()
        return {
            "score": corpus_score(metric, predictions, references),
            "sentence_scores": sentence_scores(metric, predictions, references),
        }
