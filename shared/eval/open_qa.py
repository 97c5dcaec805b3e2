"""Open questions: generate answers in batches, then score them against the references.

Metrics (see docs/evaluation.md): corpus chrF++ and BLEU (sacrebleu), ROUGE-L with the Turkish tokenizer, atomic-
fact recall, answer length in words and the share of repeated word trigrams; each with a bootstrap 95% interval
over items. The reference-based metrics are the `evaluate` modules in shared/metrics/, loaded by path.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import evaluate
from tqdm.auto import tqdm

from shared.eval.stats import Estimate, estimate
from shared.eval.text_metrics import bleu, chrf_plus_plus, corpus_score_ci, word_count
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


def score(
    answers: Sequence[str], items: Sequence[dict[str, Any]], *, n: int = 1000, seed: int = 0
) -> dict[str, Estimate]:
    """Point values from the metric modules; intervals by bootstrap over items."""
    answers = list(answers)
    references = [item["reference"] for item in items]
    chrf = load_metric("chrf").compute(predictions=answers, references=references)
    corpus_bleu = load_metric("bleu").compute(predictions=answers, references=references)
    rouge = load_metric("turkish_rouge").compute(predictions=answers, references=references)
    facts = load_metric("fact_recall").compute(predictions=answers, references=[item["facts"] for item in items])
    return {
        "chrf": Estimate(chrf["score"], *corpus_score_ci(chrf_plus_plus(), answers, references, n=n, seed=seed)),
        "bleu": Estimate(corpus_bleu["score"], *corpus_score_ci(bleu(), answers, references, n=n, seed=seed)),
        "rougeL": estimate(rouge["rougeL_scores"], n=n, seed=seed),
        "fact_recall": estimate(facts["scores"], n=n, seed=seed),
        "answer_words": estimate([float(word_count(a)) for a in answers], n=n, seed=seed),
        "repetition": estimate([repeated_ngram_share(a) for a in answers], n=n, seed=seed),
    }
