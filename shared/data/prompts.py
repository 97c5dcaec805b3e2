"""Prompts for online RL (PPO, GRPO): the user turns a policy answers during training."""

from __future__ import annotations

from shared.data.readers import DataError, read_rows
from shared.text import normalize_turkish


def load_prompts(specs: list[str], limit: int | None = None) -> list[str]:
    """User prompts from annotation-prompt rows (`prompt`) or SFT rows (first user turn of `messages`);
    normalised, de-duplicated, in file order."""
    prompts: list[str] = []
    for spec in specs:
        for row in read_rows(spec):
            if row.data is None:
                raise DataError(f"{row.source}:{row.line}: {row.error}")
            if isinstance(row.data.get("prompt"), str):
                text = row.data["prompt"]
            else:
                users = [m.get("content") for m in row.data.get("messages") or [] if m.get("role") == "user"]
                if not users:
                    raise DataError(f"{row.source}:{row.line}: prompt: missing (no `prompt` and no user turn)")
                text = users[0]
            text = normalize_turkish(text).strip()
            if text and text not in prompts:
                prompts.append(text)
    return prompts[:limit] if limit else prompts
