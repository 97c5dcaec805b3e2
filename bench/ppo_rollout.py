"""PPO rollout throughput: the batched generation path of rlhf/ppo_trainer.py (left-padded prompts, KV cache,
stop at <|eot_id|>) against one prompt at a time — same model, prompts, sampling settings and seed, same run.

    python bench/ppo_rollout.py [--model artifacts/sft/tiny] [--prompts 32] [--max_new_tokens 64]

Without --model (or if the path is missing) the embedded "small" tiny Llama (~15M parameters, random weights) is
built in a temporary directory. Tokens/s counts generated response tokens up to and including the stop token.
Prints JSON with both rates and their ratio (target ≥ 3×).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PROMPT_FILE = REPO_ROOT / "data/prompts/annotation.jsonl"  # tracked: the app's annotation prompts


def load_prompts(count: int) -> list[str]:
    """`count` prompts from PROMPT_FILE, cycled if it holds fewer."""
    from shared.data import load_prompts as read

    prompts = read([str(PROMPT_FILE)])
    return [prompts[i % len(prompts)] for i in range(count)]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="artifacts/sft/tiny")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max_new_tokens", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=32, help="prompts per generate call on the batched path")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--system_prompt", action="store_true", help="prepend the default system prompt")
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlhf.ppo_trainer import PPOArguments, generate, generation_config
    from shared.generation import DEFAULT_SYSTEM_PROMPT, encode_prompt

    model_dir, built = Path(args.model), False
    if not (model_dir / "config.json").is_file():
        from shared.tiny_model import build_tiny_model

        model_dir, built = build_tiny_model(Path(tempfile.mkdtemp()) / "tiny-llama", size="small"), True
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    system = DEFAULT_SYSTEM_PROMPT if args.system_prompt else None
    queries = [encode_prompt(tokenizer, p, system) for p in load_prompts(args.prompts)]
    config = generation_config(
        PPOArguments(max_new_tokens=args.max_new_tokens, temperature=args.temperature), tokenizer
    )

    def run(batch_size: int) -> dict:
        torch.manual_seed(0)
        generate(model, tokenizer, queries[:2], config, batch_size, "cpu")  # warm-up
        torch.manual_seed(0)
        start = time.perf_counter()
        _, _, _, mask = generate(model, tokenizer, queries, config, batch_size, "cpu")
        seconds = time.perf_counter() - start
        tokens = int(mask.sum())
        return {"tokens": tokens, "seconds": round(seconds, 3), "tokens_per_s": round(tokens / seconds, 1)}

    batched, sequential = run(args.batch_size), run(1)
    result = {
        "model": "tiny-llama small (random weights, built)" if built else str(model_dir),
        "parameters": sum(p.numel() for p in model.parameters()),
        "prompts": len(queries),
        "max_new_tokens": args.max_new_tokens,
        "temperature": args.temperature,
        "prompt_tokens_mean": round(sum(map(len, queries)) / len(queries), 1),
        "torch_threads": torch.get_num_threads(),
        "batched": {"batch_size": args.batch_size, **batched},
        "one_at_a_time": sequential,
        "ratio_batched_over_one_at_a_time": round(batched["tokens_per_s"] / sequential["tokens_per_s"], 2),
        "target_ratio": 3.0,
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return result


if __name__ == "__main__":
    main()
