"""SFT throughput: stock TRL defaults on CPU vs the project's tiny recipe, same model and data, same run.

    python bench/sft_throughput.py [--model artifacts/tiny-llama] [--steps 20]
    python bench/sft_throughput.py --gpu            # Llama-3-8B shape, random weights: LoRA and QLoRA

Each variant runs in its own process (so peak memory is its own) and reports real (non-padding) tokens/s after
warm-up steps; the JSON has the ratio project/stock and MFU = 6·params·tokens/s over a matmul peak measured in the
same run (bf16 for bf16 variants, fp32 otherwise). Timings are only compared within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Stock = what SFTConfig does by default, plus only what CPU requires (bf16 default is refused on CPU).
STOCK = {"use_cpu": True, "bf16": False}
# Keys of the recipe that are about the run, not about how fast it trains.
RUN_KEYS = {
    "output_dir",
    "run_name",
    "seed",
    "max_steps",
    "num_train_epochs",
    "logging_steps",
    "eval_strategy",
    "eval_steps",
    "save_strategy",
    "save_steps",
    "save_total_limit",
    "report_to",
    "per_device_eval_batch_size",
}


def variant_settings(name: str) -> dict:
    """The project's variant is read from configs/sft/tiny.yaml itself, so the benchmark measures the recipe."""
    import dataclasses

    import yaml
    from trl import SFTConfig

    if name == "stock_trl_defaults":
        return dict(STOCK)
    recipe = yaml.safe_load((REPO_ROOT / "configs/sft/tiny.yaml").read_text(encoding="utf-8"))
    fields = {f.name for f in dataclasses.fields(SFTConfig)}
    return {k: v for k, v in recipe.items() if k in fields and k not in RUN_KEYS}


VARIANTS = ("stock_trl_defaults", "project_tiny_recipe")


def matmul_peak_tflops(dtype_name: str, size: int = 2048, repeats: int = 10) -> float:
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e12


def run_variant(name: str, model: str, data: str, steps: int, warmup: int) -> dict:
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from shared.data import load_examples
    from shared.modeling import cpu_supports_bf16

    rows = [{"messages": r["messages"]} for r in load_examples(data, "sft")]
    timings = {}
    settings = variant_settings(name)

    class Timer(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == warmup:
                timings["start"], timings["tokens_start"] = time.perf_counter(), state.num_input_tokens_seen
            if state.global_step == warmup + steps:
                timings["end"], timings["tokens_end"] = time.perf_counter(), state.num_input_tokens_seen

    with tempfile.TemporaryDirectory() as out:
        if not cpu_supports_bf16():
            settings["bf16"] = False
        settings.setdefault("dataloader_pin_memory", False)
        args = SFTConfig(
            output_dir=out,
            max_steps=warmup + steps,
            report_to=[],
            save_strategy="no",
            logging_strategy="no",
            include_num_input_tokens_seen="non_padding",
            **settings,
        )
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=AutoTokenizer.from_pretrained(model),
            callbacks=[Timer()],
        )
        trainer.train()
        params = sum(p.numel() for p in trainer.model.parameters())
    seconds = timings["end"] - timings["start"]
    tokens = timings["tokens_end"] - timings["tokens_start"]
    return {
        "variant": name,
        "tokens_per_s": tokens / seconds,
        "tokens": tokens,
        "seconds": seconds,
        "params": params,
        "bf16": bool(settings.get("bf16")) and cpu_supports_bf16(),
        "settings": settings,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def cpu_benchmark(args) -> dict:
    model = args.model
    if not (Path(model) / "config.json").exists():
        from shared.tiny_model import build_tiny_model

        model = str(build_tiny_model(Path(tempfile.mkdtemp()) / "tiny-llama", size="small"))
    results = {}
    for name in VARIANTS:
        command = [
            sys.executable,
            __file__,
            "--variant",
            name,
            "--model",
            model,
            "--data",
            args.data,
            "--steps",
            str(args.steps),
            "--warmup",
            str(args.warmup),
        ]
        output = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, check=True).stdout
        results[name] = json.loads(output.strip().splitlines()[-1])
    peaks = {"bf16": matmul_peak_tflops("bfloat16"), "fp32": matmul_peak_tflops("float32")}
    for result in results.values():
        peak = peaks["bf16" if result["bf16"] else "fp32"]
        result["mfu"] = 6 * result["params"] * result["tokens_per_s"] / (peak * 1e12)
    stock, project = results["stock_trl_defaults"], results["project_tiny_recipe"]
    return {
        "benchmark": "sft_throughput",
        "device": "cpu",
        "cores": os.cpu_count(),
        "model": model,
        "matmul_peak_tflops": peaks,
        "variants": results,
        "ratio_tokens_per_s": project["tokens_per_s"] / stock["tokens_per_s"],
        "ratio_peak_rss": project["peak_rss_mib"] / stock["peak_rss_mib"],
        "target_ratio": 2.0,
    }


def gpu_benchmark(args) -> dict:
    """Llama-3-8B shape with random weights (no download): LoRA (bf16 base) and QLoRA (4-bit base)."""
    import torch
    from gpu_check import LLAMA3_8B  # bench/ is on sys.path: this file runs as a script from there
    from peft import LoraConfig, get_peft_model
    from transformers import BitsAndBytesConfig, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**LLAMA3_8B)
    results = {}
    for name in ("lora", "qlora"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        with tempfile.TemporaryDirectory() as tmp:
            if name == "qlora":
                # bitsandbytes quantises at load time, so the random model is saved once and reloaded in 4-bit.
                LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(tmp)
                quant = BitsAndBytesConfig(
                    load_in_4bit=True,
                    bnb_4bit_quant_type="nf4",
                    bnb_4bit_compute_dtype=torch.bfloat16,
                    bnb_4bit_use_double_quant=True,
                )
                model = LlamaForCausalLM.from_pretrained(tmp, quantization_config=quant, device_map={"": 0})
                torch.cuda.reset_peak_memory_stats()
            else:
                with torch.device("cuda"):
                    model = LlamaForCausalLM(config).to(torch.bfloat16)
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
        model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear"))
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        batch = torch.randint(0, config.vocab_size, (args.gpu_batch, args.gpu_seq), device="cuda")
        for step in range(args.warmup + args.steps):
            if step == args.warmup:
                torch.cuda.synchronize()
                start = time.perf_counter()
            loss = model(input_ids=batch, labels=batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        tokens_per_s = args.steps * batch.numel() / (time.perf_counter() - start)
        results[name] = {
            "tokens_per_s": tokens_per_s,
            "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30,
            "batch": args.gpu_batch,
            "seq_len": args.gpu_seq,
        }
        del model, optimizer
    return {
        "benchmark": "sft_throughput_gpu",
        "device": torch.cuda.get_device_name(0),
        "variants": results,
        "ratio_qlora_over_lora_tokens_per_s": results["qlora"]["tokens_per_s"] / results["lora"]["tokens_per_s"],
        "ratio_qlora_over_lora_memory": results["qlora"]["peak_memory_gib"] / results["lora"]["peak_memory_gib"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="artifacts/tiny-llama")
    parser.add_argument("--data", default="data/sft/train.jsonl")
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--gpu_batch", type=int, default=4)
    parser.add_argument("--gpu_seq", type=int, default=2048)
    args = parser.parse_args()
    if args.variant:
        result = run_variant(args.variant, args.model, args.data, args.steps, args.warmup)
    else:
        result = gpu_benchmark(args) if args.gpu else cpu_benchmark(args)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
