"""Open questions: generate answers in batches, then score them against the references.

Metrics (see docs/evaluation.md): corpus chrF++ and BLEU (sacrebleu), ROUGE-L with the Turkish tokenizer, atomic-
fact recall, answer length in words and the share of repeated word trigrams; each kept per item (for paired
deltas between models) and summarised with a bootstrap 95% interval over items. ROUGE-L and fact recall come from
the `evaluate` modules in shared/metrics/, loaded by path; chrF++ and BLEU from sacrebleu's per-item statistics
(the `chrf`/`bleu` modules compute the same corpus scores).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import evaluate
from tqdm.auto import tqdm

from shared.eval.stats import Estimate, estimates
from shared.eval.text_metrics import bleu, chrf_plus_plus, corpus_statistic, item_statistics, word_count
from shared.generation import DecodingSettings, generate_answers
from shared.metrics import metric_path
from shared.text import normalize_turkish, repeated_ngram_share


@cache
def load_metric(name: str) -> evaluate.EvaluationModule:
    return evaluate.load(metric_path(name))


def generate(
    model,
    tokenizer,
    questions: Sequence[str],
    *,
    settings: DecodingSettings,
    system_prompt: str | None,
    batch_size: int,
) -> list[str]:
    """Answers, `batch_size` per generate call (one progress step each), normalised like the references."""
    answers: list[str] = []
    for start in tqdm(range(0, len(questions), batch_size), desc="open_qa", leave=False):
        chunk = list(questions[start : start + batch_size])
        answers += generate_answers(
            model, tokenizer, chunk, settings=settings, system_prompt=system_prompt, batch_size=batch_size
        )
    return [normalize_turkish(answer) for answer in answers]


_CHRF, _BLEU = chrf_plus_plus(), bleu()
# Corpus chrF++ and BLEU are computed from the items' summed n-gram statistics, not averaged over sentences:
# the same statistic gives the table's value, its interval and the paired deltas. Other metrics are means.
STATISTICS = {"chrf": corpus_statistic(_CHRF), "bleu": corpus_statistic(_BLEU)}


def item_values(answers: Sequence[str], items: Sequence[dict[str, Any]]) -> dict[str, list]:
    """Per item: sacrebleu statistics for chrF++ and BLEU, ROUGE-L F1 and fact recall (the `evaluate` modules),
    answer length in words, share of repeated word trigrams."""
    answers = list(answers)
    references = [item["reference"] for item in items]
    rouge = load_metric("turkish_rouge").compute(predictions=answers, references=references)
    facts = load_metric("fact_recall").compute(predictions=answers, references=[item["facts"] for item in items])
    return {
        "chrf": item_statistics(_CHRF, answers, references),
        "bleu": item_statistics(_BLEU, answers, references),
        "rougeL": [float(x) for x in rouge["rougeL_scores"]],
        "fact_recall": [float(x) for x in facts["scores"]],
        "answer_words": [float(word_count(a)) for a in answers],
        "repetition": [repeated_ngram_share(a) for a in answers],
    }


def score(
    answers: Sequence[str], items: Sequence[dict[str, Any]], *, n: int = 1000, seed: int = 0
) -> dict[str, Estimate]:
    """Each metric with a bootstrap 95% interval over items."""
    return estimates(item_values(answers, items), STATISTICS, n=n, seed=seed)
