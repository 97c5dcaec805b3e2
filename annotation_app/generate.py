"""Candidate answers from one or more checkpoints into the annotation DB.

python -m annotation_app.generate --model PATH [--model PATH2] --prompts FILE --n 2 [--db URL | --config FILE]

Idempotent: a (prompt, model, checkpoint, sample index) already stored is not generated again, and a model with
nothing left to do is not even loaded. Decoding settings and generation time are stored with each answer.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from annotation_app.config import add_config_arguments, config_from_args
from annotation_app.content import add_candidate, add_gold_item, build_items, import_prompts, missing_samples
from annotation_app.storage import Prompt, open_database
from shared.data import load_examples, read_rows
from shared.generation import (
    DEFAULT_SYSTEM_PROMPT,
    DecodingSettings,
    generate_answers,
    prompt_token_limit,
    too_long_prompts,
)


def model_name_of(path: str | Path) -> str:
    return Path(path).resolve().name


def _load(path: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def refuse_long_prompts(
    rows: list[dict],
    model_paths: list[str],
    max_new_tokens: int,
    system_prompt: str | None,
    max_prompt_tokens: int | None = None,
) -> tuple[list[dict], list[dict]]:
    """(kept rows, refused prompts): a prompt too long for any of the models (its positions minus max_new_tokens,
    or `max_prompt_tokens`) is refused before it is stored — never generated from, counted with its length."""
    from transformers import AutoConfig, AutoTokenizer

    refused: dict[int, dict] = {}
    for path in model_paths:
        limit = prompt_token_limit(AutoConfig.from_pretrained(path), max_new_tokens, max_prompt_tokens)
        texts = [row["prompt"] for row in rows]
        for index, tokens in too_long_prompts(AutoTokenizer.from_pretrained(path), texts, limit, system_prompt).items():
            refused.setdefault(index, {"id": rows[index]["id"], "tokens": tokens, "limit": limit, "model": path})
    return [row for i, row in enumerate(rows) if i not in refused], list(refused.values())


def generate_for_model(
    sessions,
    model_path: str,
    prompt_ids: list[int],
    n_samples: int,
    settings: DecodingSettings,
    batch_size: int = 8,
    system_prompt: str | None = None,
) -> int:
    """Generate the missing samples of one checkpoint (sample k uses seed + k); returns how many were stored."""
    name, checkpoint = model_name_of(model_path), str(Path(model_path).resolve())
    with sessions() as session:
        prompts = [session.get(Prompt, pid) for pid in prompt_ids]
        todo = missing_samples(session, prompts, name, checkpoint, n_samples)
    if not todo:
        return 0
    model, tokenizer = _load(model_path)
    stored = 0
    for sample_index, prompts in todo.items():
        sample_settings = replace(settings, seed=settings.seed + sample_index)
        started = time.perf_counter()
        answers = generate_answers(
            model,
            tokenizer,
            [p.text for p in prompts],
            settings=sample_settings,
            system_prompt=system_prompt,
            batch_size=batch_size,
        )
        seconds_each = round((time.perf_counter() - started) / len(prompts), 4)
        decoding = {**sample_settings.to_dict(), "batch_size": batch_size, "system_prompt": system_prompt}
        with sessions.begin() as session:
            for prompt, answer in zip(prompts, answers):
                add_candidate(
                    session,
                    prompt,
                    model_name=name,
                    checkpoint=checkpoint,
                    sample_index=sample_index,
                    text=answer,
                    decoding=decoding,
                    generation_seconds=seconds_each,
                )
        stored += len(prompts)
    return stored


def run(
    sessions,
    model_paths: list[str],
    prompts_file: str,
    n_samples: int,
    settings: DecodingSettings,
    *,
    pairs_per_prompt: int,
    batch_size: int = 8,
    system_prompt: str | None = None,
    seed: int = 0,
    gold_file: str | None = None,
    limit: int | None = None,
    max_prompt_tokens: int | None = None,
) -> dict:
    rows = load_examples(prompts_file, "annotation_prompt")[:limit]
    rows, refused = refuse_long_prompts(rows, model_paths, settings.max_new_tokens, system_prompt, max_prompt_tokens)
    for prompt in refused:
        print(
            f"{prompts_file}: prompt {prompt['id']!r} refused: {prompt['tokens']} tokens, over the {prompt['limit']} "
            f"that {prompt['model']} takes with {settings.max_new_tokens} new tokens; not stored",
            file=sys.stderr,
        )
    with sessions.begin() as session:
        prompt_ids = [p.id for p in import_prompts(session, rows)]
        gold = [add_gold_item(session, row.data) for row in read_rows(gold_file)] if gold_file else []
    generated = {
        model_name_of(path): generate_for_model(
            sessions, path, prompt_ids, n_samples, settings, batch_size, system_prompt
        )
        for path in model_paths
    }
    with sessions.begin() as session:
        items = build_items(session, pairs_per_prompt, seed)
    return {
        "prompts": len(prompt_ids),
        "refused_prompts": len(refused),
        "gold_items": len(gold),
        "generated": generated,
        "new_items": items,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", required=True, help="checkpoint directory (repeatable)")
    parser.add_argument("--prompts", default=None, help="annotation prompts JSONL (default: prompts_file from config)")
    parser.add_argument(
        "--gold", default=None, help="JSONL of gold items: prompt fields + gold_answer, rejected_answer"
    )
    parser.add_argument("--n", type=int, default=2, help="samples per prompt and model")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--greedy", action="store_true", help="greedy decoding (default: sampling)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--system-prompt", default=DEFAULT_SYSTEM_PROMPT)
    parser.add_argument("--limit", type=int, default=None, help="only the first N prompts of the file")
    parser.add_argument(
        "--max-prompt-tokens",
        type=int,
        default=None,
        help="refuse longer prompts (default: the model's max_position_embeddings minus --max-new-tokens)",
    )
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    config = config_from_args(args)
    settings = DecodingSettings(
        max_new_tokens=args.max_new_tokens,
        do_sample=not args.greedy,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
    )
    summary = run(
        open_database(config.db_url),
        args.model,
        args.prompts or config.prompts_file,
        args.n,
        settings,
        pairs_per_prompt=config.pairs_per_prompt,
        batch_size=args.batch_size,
        system_prompt=args.system_prompt or None,
        seed=config.seed,
        gold_file=args.gold,
        limit=args.limit,
        max_prompt_tokens=args.max_prompt_tokens,
    )
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
