"""Multiple-choice questions scored by log-likelihood, as lm-evaluation-harness scores cloze-style tasks.

Each of the 5 options is a continuation " <option text>" of the prompt "...Soru: <question>\\nCevap:"; the model
picks the option with the highest summed log-probability (`acc`) or the highest log-probability per character
of the continuation (`acc_norm`, the harness's length normalisation, which removes the bias toward short
options). Only the continuation tokens are scored. k-shot prompts take solved examples from the dev file, same
subdomain first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from sklearn.metrics import f1_score
from tqdm.auto import tqdm

from shared.batching import padded_batch
from shared.eval.models import token_logprobs
from shared.eval.stats import Estimate, estimate, estimates

LETTERS = "ABCDE"


@dataclass
class MCQSettings:
    num_fewshot: int = 5
    batch_size: int = 8
    max_length: int = 2048  # context tokens beyond this are cut from the left (the oldest shots go first)
    bootstrap_samples: int = 1000
    seed: int = 0


def question_prompt(question: str) -> str:
    return f"Soru: {question}\nCevap:"


def solved_example(item: dict[str, Any]) -> str:
    return f"{question_prompt(item['question'])} {item['choices'][LETTERS.index(item['answer'])]}"


def fewshot_examples(item: dict[str, Any], dev_items: Sequence[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """Up to `k` dev items: those of the item's subdomain first, then the others, each group in file order.

    A dev item with the same question is skipped, so a test item never sees itself solved."""
    candidates = [d for d in dev_items if d["question"] != item["question"]]
    same = [d for d in candidates if d["subdomain"] == item["subdomain"]]
    other = [d for d in candidates if d["subdomain"] != item["subdomain"]]
    return (same + other)[:k]


def build_context(item: dict[str, Any], shots: Sequence[dict[str, Any]]) -> str:
    return "\n\n".join([*map(solved_example, shots), question_prompt(item["question"])])


def continuations(item: dict[str, Any]) -> list[str]:
    return [f" {choice}" for choice in item["choices"]]


def encode_request(tokenizer, context: str, continuation: str, max_length: int) -> tuple[list[int], int]:
    """(token ids of context + continuation, number of continuation tokens).

    Encoded separately, as the harness does, so the continuation's tokens are exactly its own; the tokenizer's
    BOS (if any) goes in front of the context."""
    context_ids = tokenizer(context, add_special_tokens=True)["input_ids"]
    continuation_ids = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    ids = (context_ids + continuation_ids)[-max_length:]
    return ids, len(continuation_ids)


def score_requests(
    model, tokenizer, requests: Sequence[tuple[str, str]], settings: MCQSettings, desc: str = "mcq"
) -> list[float]:
    """Summed log-probability of each (context, continuation), in `settings.batch_size` batches.

    Requests are sorted by length so each batch pads little; results come back in input order."""
    encoded = [encode_request(tokenizer, c, x, settings.max_length) for c, x in requests]
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]))
    scores = [0.0] * len(encoded)
    for start in tqdm(range(0, len(order), settings.batch_size), desc=desc, leave=False):
        chunk = order[start : start + settings.batch_size]
        logprobs = token_logprobs(
            model, [encoded[i][0] for i in chunk], [encoded[i][1] for i in chunk], tokenizer.pad_token_id
        )
        for index, values in zip(chunk, logprobs):
            scores[index] = float(values.sum())
    return scores


@torch.no_grad()
def score_options(
    model, tokenizer, contexts: Sequence[str], options: Sequence[Sequence[str]], settings: MCQSettings
) -> list[list[float]]:
    """Summed log-probability of each option's continuation given its item's context: what `score_requests`
    gives for the (context, continuation) requests, computed with the context run once per item.

    A 5-shot context is ~98% of each request's tokens, so running it once and sharing its KV cache among the
    item's options needs ~5x less compute than scoring the five requests separately. Contexts are left-padded
    with explicit position ids; each option continues at its own context's length, so a score does not depend
    on the batch. A context longer than `max_length` minus the longest option loses its oldest tokens."""
    device = next(model.parameters()).device
    encoded = []
    for context, item_options in zip(contexts, options):
        option_ids = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in item_options]
        context_ids = tokenizer(context, add_special_tokens=True)["input_ids"]
        encoded.append((context_ids[-(settings.max_length - max(map(len, option_ids))) :], option_ids))
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]))
    per_batch = max(1, settings.batch_size // max(len(o) for o in options))  # option rows per pass ≤ batch_size
    scores: list[list[float]] = [[] for _ in encoded]
    for start in tqdm(range(0, len(order), per_batch), desc="mcq", leave=False):
        chunk = order[start : start + per_batch]
        context_batch = padded_batch([encoded[i][0] for i in chunk], tokenizer.pad_token_id, side="left", device=device)
        out = model(**context_batch, use_cache=True, logits_to_keep=1)
        first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)  # predicts each option's first token
        rows = [(b, option) for b, i in enumerate(chunk) for option in encoded[i][1]]
        cache = out.cache
        cache.batch_repeat_interleave(len(encoded[chunk[0]][1]))  # every item has the same number of options
        continuation = padded_batch([option for _, option in rows], tokenizer.pad_token_id, side="right", device=device)
        context_mask = context_batch["attention_mask"].repeat_interleave(len(rows) // len(chunk), dim=0)
        lengths = context_mask.sum(dim=1, keepdim=True)
        logits = model(
            input_ids=continuation["input_ids"],
            attention_mask=torch.cat([context_mask, continuation["attention_mask"]], dim=1),
            position_ids=lengths + continuation["position_ids"],
            cache=cache,
            use_cache=True,
        ).logits.float()
        later = torch.log_softmax(logits[:, :-1], dim=-1)  # column j predicts option token j+1
        for row, (b, option) in enumerate(rows):
            total = first[b, option[0]] + later[row, torch.arange(len(option) - 1), option[1:]].sum()
            scores[chunk[b]].append(float(total))
    return scores


def predict(
    model, tokenizer, items: Sequence[dict[str, Any]], dev_items: Sequence[dict[str, Any]], settings: MCQSettings
) -> list[dict[str, Any]]:
    """One prediction per item: the letters chosen by `acc` and by `acc_norm`, and the option scores."""
    contexts = [build_context(item, fewshot_examples(item, dev_items, settings.num_fewshot)) for item in items]
    all_scores = score_options(model, tokenizer, contexts, [continuations(item) for item in items], settings)
    predictions = []
    for item, option_scores in zip(items, all_scores):
        per_char = [s / len(c) for s, c in zip(option_scores, continuations(item))]
        predictions.append(
            {
                "id": item["id"],
                "subdomain": item["subdomain"],
                "answer": item["answer"],
                "pred": LETTERS[max(range(5), key=option_scores.__getitem__)],
                "pred_norm": LETTERS[max(range(5), key=per_char.__getitem__)],
                "logprobs": option_scores,
            }
        )
    return predictions


def accuracy_by_subdomain(predictions: Sequence[dict[str, Any]], settings: MCQSettings) -> dict[str, Estimate]:
    groups: dict[str, list[float]] = defaultdict(list)
    for p in predictions:
        groups[p["subdomain"]].append(float(p["pred"] == p["answer"]))
    return {
        name: estimate(values, n=settings.bootstrap_samples, seed=settings.seed)
        for name, values in sorted(groups.items())
    }


def macro_f1(pairs: Sequence[Sequence[str]]) -> float:
    """Macro-F1 over (answer, prediction) letter pairs, averaged over the letters that occur as answer or
    prediction: a letter no item has and the model never picks says nothing about the model, so it must not
    count as an F1 of 0."""
    truth, guess = zip(*pairs)
    return float(f1_score(truth, guess, average="macro", zero_division=0))


STATISTICS = {"mcq_macro_f1": macro_f1}  # the other MCQ metrics are means over items


def item_values(predictions: Sequence[dict[str, Any]]) -> dict[str, list]:
    """Per item: correct under acc and acc_norm (1/0), and the (answer, prediction) pair macro-F1 is built from."""
    return {
        "mcq_acc": [float(p["pred"] == p["answer"]) for p in predictions],
        "mcq_acc_norm": [float(p["pred_norm"] == p["answer"]) for p in predictions],
        "mcq_macro_f1": [[p["answer"], p["pred"]] for p in predictions],
    }


def summarize(predictions: Sequence[dict[str, Any]], settings: MCQSettings) -> dict[str, Estimate]:
    """acc, acc_norm and macro-F1 over the answer letters, each with a bootstrap 95% interval."""
    return estimates(item_values(predictions), STATISTICS, n=settings.bootstrap_samples, seed=settings.seed)
