"""Preference rows for training: which pairs carry a preference, which are critical for safety, TRL's
conversational form, and the rows DPO and KTO train on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.data.readers import read_rows
from shared.data.sources import load_sources, parse_sources
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


def preference_rows(specs: list[str], on_invalid: str, rejects: Rejects, seed: int) -> list[dict[str, Any]]:
    """The preference pairs of these sources that carry a preference (ties and "both bad" go to the rejects)."""
    rows = load_sources(parse_sources(specs, "preference"), on_invalid=on_invalid, rejects=rejects, seed=seed)
    return trainable_preferences(rows, rejects)


def dpo_rows(specs: list[str], on_invalid: str, rejects: Rejects, seed: int) -> list[dict[str, Any]]:
    """Conversational preference pairs for DPO."""
    return [to_conversational_preference(row) for row in preference_rows(specs, on_invalid, rejects, seed)]


def kto_rows(specs: list[str], on_invalid: str, rejects: Rejects, seed: int) -> list[dict[str, Any]]:
    """Unpaired good/bad rows for KTO: unpaired rows (the app's KTO export) as they are, or pairs split into one
    good and one bad row. The first source decides which."""
    if not _looks_unpaired(parse_sources(specs[:1], "preference")[0].path):
        return [
            {"prompt": pair["prompt"], "completion": pair[side], "label": side == "chosen"}
            for pair in dpo_rows(specs, on_invalid, rejects, seed)
            for side in ("chosen", "rejected")
        ]
    rows = load_sources(parse_sources(specs, "kto"), on_invalid=on_invalid, rejects=rejects, seed=seed)
    return [
        {
            "prompt": [{"role": "user", "content": row["prompt"]}],
            "completion": [{"role": "assistant", "content": row["completion"]}],
            "label": row["label"],
        }
        for row in rows
    ]


def _looks_unpaired(path: str) -> bool:
    first = next((row.data for row in read_rows(path) if row.data is not None), {})
    return "label" in first and "chosen" not in first


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
