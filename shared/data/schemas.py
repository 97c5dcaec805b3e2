"""The row schemas (SFT conversation, preference, KTO, MCQ, open QA, annotation prompt): each validates and
normalises a raw record, or raises `FieldError` naming the field."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from shared.taxonomy import ROLES
from shared.text import normalize_turkish


class FieldError(ValueError):
    def __init__(self, field_name: str, reason: str):
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


def _text(record: dict, name: str, *, required: bool = True) -> str | None:
    value = record.get(name)
    if value is None:
        if required:
            raise FieldError(name, "missing")
        return None
    if not isinstance(value, str):
        raise FieldError(name, f"expected text, got {type(value).__name__}")
    value = normalize_turkish(value)
    if required and not value:
        raise FieldError(name, "empty")
    return value


def _messages(record: dict, name: str = "messages") -> list[dict[str, str]]:
    value = record.get(name)
    if value is None:
        raise FieldError(name, "missing")
    if not isinstance(value, list) or not value:
        raise FieldError(name, f"expected a non-empty list of messages, got {type(value).__name__}")
    messages = []
    for index, message in enumerate(value):
        where = f"{name}[{index}]"
        if not isinstance(message, dict):
            raise FieldError(where, "expected an object with role and content")
        role = message.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise FieldError(f"{where}.role", f"unknown role {role!r} (use {', '.join(sorted(ROLES))})")
        try:
            content = _text(message, "content")
        except FieldError as exc:
            raise FieldError(f"{where}.content", exc.reason) from None
        messages.append({"role": role, "content": content})
    if not any(m["role"] == "assistant" for m in messages):
        raise FieldError(name, "no assistant turn")
    if messages[-1]["role"] != "assistant":
        raise FieldError(name, "the last turn must be the assistant's")
    return messages


def _extras(record: dict, names: Iterable[str]) -> dict[str, Any]:
    return {name: record[name] for name in names if record.get(name) is not None}


@dataclass
class SFTConversation:
    messages: list[dict[str, str]]
    category: str | None = None
    source: str | None = None

    @classmethod
    def from_record(cls, record: dict) -> SFTConversation:
        return cls(_messages(record), **_extras(record, ("category", "source")))


@dataclass
class PromptCompletion:
    prompt: str
    completion: str
    category: str | None = None

    @classmethod
    def from_record(cls, record: dict) -> PromptCompletion:
        return cls(_text(record, "prompt"), _text(record, "completion"), **_extras(record, ("category",)))


@dataclass
class PreferenceExample:
    prompt: str
    chosen: str
    rejected: str
    strength: int = 1
    defect: str | None = None
    category: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: dict) -> PreferenceExample:
        prompt, chosen, rejected = (_text(record, name) for name in ("prompt", "chosen", "rejected"))
        if chosen == rejected:
            raise FieldError("rejected", "identical to chosen")
        strength = record.get("strength", 1)
        if isinstance(strength, bool) or strength not in (0, 1, 2):
            raise FieldError("strength", f"expected 0 (tie), 1 (better) or 2 (much better), got {strength!r}")
        meta = record.get("meta") or {}
        if not isinstance(meta, dict):
            raise FieldError("meta", "expected an object")
        defect, category = (_text(record, name, required=False) for name in ("defect", "category"))
        return cls(prompt, chosen, rejected, int(strength), defect, category, meta)


@dataclass
class UnpairedExample:
    prompt: str
    completion: str
    label: bool

    @classmethod
    def from_record(cls, record: dict) -> UnpairedExample:
        label = record.get("label")
        if not isinstance(label, bool):
            raise FieldError("label", f"expected true or false, got {label!r}")
        return cls(_text(record, "prompt"), _text(record, "completion"), label)


@dataclass
class MCQItem:
    id: str
    question: str
    choices: list[str]
    answer: str
    subdomain: str

    @classmethod
    def from_record(cls, record: dict) -> MCQItem:
        choices = record.get("choices")
        if not isinstance(choices, list) or len(choices) != 5 or not all(isinstance(c, str) and c for c in choices):
            raise FieldError("choices", "expected exactly 5 non-empty options")
        answer = record.get("answer")
        if answer not in tuple("ABCDE"):
            raise FieldError("answer", f"expected a letter A-E, got {answer!r}")
        return cls(
            str(record.get("id", "")),
            _text(record, "question"),
            [normalize_turkish(c) for c in choices],
            answer,
            _text(record, "subdomain"),
        )


@dataclass
class OpenQAItem:
    id: str
    question: str
    reference: str
    facts: list[str]
    safety_critical: bool
    subdomain: str

    @classmethod
    def from_record(cls, record: dict) -> OpenQAItem:
        facts = record.get("facts")
        if not isinstance(facts, list) or not facts or not all(isinstance(f, str) and f for f in facts):
            raise FieldError("facts", "expected a non-empty list of texts")
        flag = record.get("safety_critical")
        if not isinstance(flag, bool):
            raise FieldError("safety_critical", f"expected true or false, got {flag!r}")
        return cls(
            str(record.get("id", "")),
            _text(record, "question"),
            _text(record, "reference"),
            [normalize_turkish(f) for f in facts],
            flag,
            _text(record, "subdomain"),
        )


@dataclass
class AnnotationPrompt:
    id: str
    prompt: str
    crop: str | None = None
    region: str | None = None
    season: str | None = None
    category: str | None = None

    @classmethod
    def from_record(cls, record: dict) -> AnnotationPrompt:
        extras = {
            k: normalize_turkish(str(v)) for k, v in _extras(record, ("crop", "region", "season", "category")).items()
        }
        return cls(str(record.get("id", "")), _text(record, "prompt"), **extras)


SCHEMAS: dict[str, type] = {
    "sft": SFTConversation,
    "prompt_completion": PromptCompletion,
    "preference": PreferenceExample,
    "kto": UnpairedExample,
    "mcq": MCQItem,
    "open_qa": OpenQAItem,
    "annotation_prompt": AnnotationPrompt,
}
