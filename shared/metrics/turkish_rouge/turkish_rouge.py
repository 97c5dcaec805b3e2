"""ROUGE-L with a Turkish-aware tokenizer (Turkish lower case, Unicode \\w+ tokens).

rouge-score's default tokenizer deletes ç ğ ı ö ş ü, so Turkish words fall apart into ASCII fragments that match
by accident; this module scores whole Turkish words.
"""

import datasets
import evaluate

from shared.eval.text_metrics import rouge_l

_DESCRIPTION = "ROUGE-L F-measure in [0, 1] on Turkish-lower-cased Unicode word tokens."
_KWARGS = """
Args:
    predictions: list of generated texts.
    references: list of reference texts.
Returns:
    rougeL: mean ROUGE-L F-measure; rougeL_scores: one F-measure per item.
"""


class TurkishRouge(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Lin (2004), ROUGE: A Package for Automatic Evaluation of Summaries.",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        scores = rouge_l(predictions, references)
        return {"rougeL": sum(scores) / len(scores) if scores else float("nan"), "rougeL_scores": scores}
