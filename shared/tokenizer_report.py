"""How well a tokenizer fits Turkish: fertility, characters per token, Turkish letters split into byte pieces,
round-trip exactness. Works for the tiny tokenizer and any Hugging Face tokenizer path (e.g. Llama 3).

`python -m shared.tokenizer_report --model PATH --data FILE [--out report.json]`
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer

from shared.data import example_text, read_rows
from shared.text import TURKISH_LETTERS, normalize_turkish, words


def read_texts(path: str | Path) -> list[str]:
    texts = []
    for row in read_rows(path):
        if row.data is None:
            continue
        text = example_text(row.data) or "\n".join(v for v in row.data.values() if isinstance(v, str))
        if text:
            texts.append(normalize_turkish(text))
    return texts


def tokenizer_report(tokenizer, texts: list[str]) -> dict[str, Any]:
    n_words = n_tokens = n_chars = n_turkish = n_turkish_split = n_exact = 0
    for text in texts:
        encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = encoding["input_ids"], encoding["offset_mapping"]
        n_tokens += len(ids)
        n_words += len(words(text))
        n_chars += len(text)
        n_exact += tokenizer.decode(ids, skip_special_tokens=True) == text
        # A token that decodes to U+FFFD holds only part of a character's UTF-8 bytes.
        partial = [(start, end) for token, (start, end) in zip(ids, offsets) if "\ufffd" in tokenizer.decode([token])]
        for position, char in enumerate(text):
            if char in TURKISH_LETTERS:
                n_turkish += 1
                n_turkish_split += any(start <= position < end for start, end in partial)
    return {
        "texts": len(texts),
        "words": n_words,
        "tokens": n_tokens,
        "fertility_tokens_per_word": round(n_tokens / max(n_words, 1), 3),
        "chars_per_token": round(n_chars / max(n_tokens, 1), 3),
        "turkish_letters": n_turkish,
        "turkish_letters_split_into_bytes_share": round(n_turkish_split / max(n_turkish, 1), 4),
        "round_trip_exact_share": round(n_exact / max(len(texts), 1), 4),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m shared.tokenizer_report", description=__doc__)
    parser.add_argument("--model", required=True, help="tokenizer directory or Hub id")
    parser.add_argument("--data", required=True, help="JSONL/JSON/CSV/Parquet file")
    parser.add_argument("--out", help="write the report as JSON here too")
    parser.add_argument("--card", help="also write a summary line into this Markdown file's fertility block")
    args = parser.parse_args(argv)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    report = {"model": args.model, "data": args.data, **tokenizer_report(tokenizer, read_texts(args.data))}
    print(json.dumps(report, ensure_ascii=False, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    if args.card:
        write_card_block(Path(args.card), report)
    return report


def write_card_block(card: Path, report: dict[str, Any]) -> None:
    """Replace the text between `<!-- fertility:begin -->` and `<!-- fertility:end -->`."""
    begin, end = "<!-- fertility:begin -->", "<!-- fertility:end -->"
    text = card.read_text(encoding="utf-8")
    if begin not in text or end not in text:
        raise SystemExit(f"{card}: no {begin} ... {end} block")
    line = (
        f"Tokenizer `{report['model']}` on `{report['data']}` ({report['texts']} texts, {report['words']} words): "
        f"fertility **{report['fertility_tokens_per_word']}** tokens/word, {report['chars_per_token']} characters/"
        f"token, {report['turkish_letters_split_into_bytes_share']:.1%} of Turkish letters split into byte pieces, "
        f"round trip exact for {report['round_trip_exact_share']:.0%} of texts. "
        f"Regenerate: `python -m shared.tokenizer_report --model {report['model']} --data {report['data']} "
        f"--card {card}`."
    )
    head, rest = text.split(begin, 1)
    card.write_text(f"{head}{begin}\n{line}\n{end}{rest.split(end, 1)[1]}", encoding="utf-8")


if __name__ == "__main__":
    main()
