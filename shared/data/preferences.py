"""Preference rows for training: which pairs carry a preference, which are critical for safety, and TRL's
conversational form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.data.validation import Rejects
from shared.taxonomy import CRITICAL_SAFETY_DEFECTS


def is_critical_safety(row: dict[str, Any]) -> bool:
    return row.get("defect") in CRITICAL_SAFETY_DEFECTS or bool(row.get("meta", {}).get("critical_safety"))


def trainable_preferences(rows: list[dict[str, Any]], rejects: Rejects) -> list[dict[str, Any]]:
    """Drop pairs that carry no preference — ties (strength 0) and "both bad" — into rejects, by policy."""
    kept = []
    for row in rows:
        if row.get("strength") == 0 or row.get("meta", {}).get("choice") in {"tie", "both_bad"}:
            rejects.add(row, "policy", "tie or both bad: no preference to learn")
        else:
            kept.append(row)
    return kept


def to_conversational_preference(row: dict[str, Any]) -> dict[str, Any]:
    """Plain-text preference row → TRL's conversational form, so the chat template is applied."""
    return {
        "prompt": [{"role": "user", "content": row["prompt"]}],
        "chosen": [{"role": "assistant", "content": row["chosen"]}],
        "rejected": [{"role": "assistant", "content": row["rejected"]}],
    }


ANSWER_FIELDS = ("chosen", "rejected", "completion")


def user_assistant(prompt: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def reject_overlong(
    rows: list[dict[str, Any]],
    tokenizer,
    max_length: int | None,
    rejects: Rejects,
    conversation: Callable[[str, str], list[dict[str, str]]] = user_assistant,
) -> list[dict[str, Any]]:
    """Rows (`prompt` + `chosen`/`rejected`, or `completion`; plain text or TRL's conversational form) whose
    longest chat-templated conversation is over `max_length` tokens go to rejects, counted: trainers would cut them
    (DPO, KTO) or drop them (reward) silently, and a cut answer teaches a preference for its first part only."""
    if not max_length:
        return rows

    def tokens(prompt, answer) -> int:
        messages = [*prompt, *answer] if isinstance(prompt, list) else conversation(prompt, answer)
        return len(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])

    kept = []
    for row in rows:
        longest = max(tokens(row["prompt"], row[name]) for name in ANSWER_FIELDS if name in row)
        if longest > max_length:
            rejects.add(row, "max_length", f"{longest} tokens > max_length {max_length}")
        else:
            kept.append(row)
    return kept
