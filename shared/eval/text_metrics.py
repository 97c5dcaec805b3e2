"""Turkish-aware text metrics as pure functions: ROUGE-L, chrF++, BLEU, atomic-fact recall, answer length.

The `evaluate` modules in shared/metrics/ wrap these functions; open_qa.py loads those modules by path.

Why a tokenizer of our own: rouge-score's default tokenizer keeps only [a-z0-9], so "buğday" becomes "bu", "day"
and "ağaç dikildi" vs "aşı yapıldı" shares tokens that are not words. Ours keeps every Unicode letter and lower-
cases with Turkish rules (I→ı, İ→i) so "İZMİR'DE ILIK" and "izmir'de ılık" are the same tokens.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU, CHRF

from shared.eval.stats import bootstrap_ci
from shared.text import normalize_turkish, turkish_lower

# \w+ splits at apostrophes ("izmir'de" → "izmir", "de"): a stem then matches on its own, which suits ROUGE.
_WORD = re.compile(r"\w+")
# Final p, ç, t, k soften before a vowel suffix: toprak → toprağı, kireç → kireci, ağaç → ağacı.
_SOFTENING = "pçtk"
_MIN_PREFIX_WORD = 3  # shorter fact words ("da", "kg", numbers) must match exactly


def turkish_tokens(text: str) -> list[str]:
    """NFC, Turkish lower case, Unicode word characters only."""
    return _WORD.findall(turkish_lower(unicodedata.normalize("NFC", text)))


class TurkishTokenizer:
    """The object rouge-score calls: `tokenize(text) -> list[str]`."""

    def tokenize(self, text: str) -> list[str]:
        return turkish_tokens(text)


def rouge_l(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """Per-item ROUGE-L F-measure in [0, 1] with the Turkish tokenizer."""
    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=TurkishTokenizer())
    return [scorer.score(ref, pred)["rougeL"].fmeasure for pred, ref in zip(predictions, references)]


def chrf_plus_plus() -> CHRF:
    """chrF++: character 6-grams plus word 1-2-grams (word_order=2), sacrebleu's defaults otherwise."""
    return CHRF(word_order=2)


def bleu() -> BLEU:
    return BLEU()


def corpus_score(metric: CHRF | BLEU, predictions: Sequence[str], references: Sequence[str]) -> float:
    return float(metric.corpus_score(list(predictions), [list(references)]).score)


def sentence_scores(metric: CHRF | BLEU, predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    if isinstance(metric, BLEU):
        metric = BLEU(effective_order=True)  # sentence BLEU needs it, or most short answers score 0
    return [float(metric.sentence_score(p, [r]).score) for p, r in zip(predictions, references)]


def item_statistics(metric: CHRF | BLEU, predictions: Sequence[str], references: Sequence[str]) -> list[list[int]]:
    """sacrebleu's sufficient statistics per item (n-gram matches and totals): a corpus score is computed from
    their sum, so a resample of items is a sum, not a re-tokenisation (the private helpers sacrebleu's own
    paired bootstrap uses; pinned sacrebleu 2.6)."""
    stats = metric._extract_corpus_statistics(list(predictions), [list(references)])
    return [[int(x) for x in row] for row in stats]


def corpus_statistic(metric: CHRF | BLEU):
    """items' sufficient statistics → the corpus score (equal to `corpus_score` on the same items)."""

    def score(stats: Sequence[Sequence[int]]) -> float:
        totals = np.asarray(stats, dtype=np.int64).sum(axis=0)
        return float(metric._compute_score_from_stats(totals.tolist()).score)

    return score


def corpus_score_ci(
    metric: CHRF | BLEU,
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    n: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Bootstrap interval of a corpus-level sacrebleu score, resampling items (summed per-item statistics)."""
    stats = item_statistics(metric, predictions, references)
    return bootstrap_ci(stats, corpus_statistic(metric), n=n, seed=seed, confidence=confidence)


def _fact_word_matches(word: str, answer_tokens: set[str]) -> bool:
    if word in answer_tokens:
        return True
    if len(word) < _MIN_PREFIX_WORD or word.isdigit():
        return False
    stem = word[:-1] if word[-1] in _SOFTENING and len(word) >= 4 else word
    return any(token.startswith(stem) for token in answer_tokens)


def fact_found(fact: str, answer: str) -> bool:
    """Matching rule: after normalisation (NFC, mojibake repair, Turkish lower case, \\w+ tokens), every word of
    the fact must occur somewhere in the answer, in any order. A word of 3+ letters also matches an answer word
    that starts with it, so suffixes count ("sulama" ↔ "sulamayı"), and a final p/ç/t/k may be softened
    ("toprak" ↔ "toprağı"). Numbers and shorter words ("kg", "da") must match exactly; "2,5" and "2.5" are
    both the tokens "2", "5"."""
    fact_tokens = turkish_tokens(normalize_turkish(fact))
    answer_tokens = set(turkish_tokens(normalize_turkish(answer)))
    return bool(fact_tokens) and all(_fact_word_matches(word, answer_tokens) for word in fact_tokens)


def fact_recall(answer: str, facts: Sequence[str]) -> float:
    """Share of `facts` found in `answer` (rule: `fact_found`)."""
    if not facts:
        return float("nan")
    return sum(fact_found(fact, answer) for fact in facts) / len(facts)


def word_count(text: str) -> int:
    return len(turkish_tokens(text))
