"""The evaluation config: one dataclass read from configs/eval/*.yaml, every key overridable on the command line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from shared.config import ConfigError, parse_config
from shared.generation import DEFAULT_SYSTEM_PROMPT, DecodingSettings

TASKS = ("mcq", "open_qa", "perplexity")
_MODEL_NAME = re.compile(r"^[\w.-]+$")


@dataclass
class EvalConfig:
    models: list[str] = field(
        default_factory=list, metadata={"help": "models to compare as name=path, e.g. base=artifacts/tiny-llama"}
    )
    tasks: list[str] = field(
        default_factory=lambda: list(TASKS),
        metadata={"help": "mcq | open_qa | perplexity (safety and the RM-judged score and win rate come with open_qa)"},
    )
    mcq_data: str = "data/eval/mcq.jsonl"
    mcq_dev_data: str = field(default="data/eval/mcq_dev.jsonl", metadata={"help": "k-shot examples"})
    open_qa_data: str = "data/eval/open_qa.jsonl"
    perplexity_data: str = field(default="data/sft/validation.jsonl", metadata={"help": "SFT conversations"})
    max_mcq: int | None = field(default=None, metadata={"help": "first N items only (CPU runs)"})
    max_open_qa: int | None = None
    max_perplexity: int | None = None
    num_fewshot: int = 5
    batch_size: int = 8
    max_length: int = 2048
    max_new_tokens: int = 128
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.9
    seed: int = 0
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT
    reward_model: str | None = field(
        default=None, metadata={"help": "reward model path: adds the RM-judged mean score and win rate"}
    )
    reward_batch_size: int = 8
    bootstrap_samples: int = 1000
    device: str = "auto"
    dtype: str = field(default="auto", metadata={"help": "auto (bf16 on GPU, fp32 on CPU) | float32 | bfloat16"})
    runs_dir: str = field(default="runs", metadata={"help": "TensorBoard root: scalars go to <runs_dir>/eval/<name>"})
    output_dir: str = field(default="artifacts/eval/tiny", metadata={"help": "report.md, results.json, plots"})
    baselines: list[str] = field(
        default_factory=lambda: ["base", "sft"],
        metadata={"help": "model names the report gives deltas against, when present"},
    )

    def __post_init__(self):
        unknown = sorted(set(self.tasks) - set(TASKS))
        if unknown:
            raise ConfigError(f"unknown task(s) {unknown} (use {', '.join(TASKS)})")

    def decoding(self) -> DecodingSettings:
        return DecodingSettings(
            max_new_tokens=self.max_new_tokens,
            do_sample=self.do_sample,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=self.seed,
        )

    def model_paths(self) -> dict[str, str]:
        """`name=path` entries → {name: path}, in the given order; names become TensorBoard run directories."""
        pairs: dict[str, str] = {}
        for entry in self.models:
            name, sep, path = entry.partition("=")
            if not sep or not name or not path:
                raise ConfigError(f"models: expected name=path, got {entry!r}")
            if not _MODEL_NAME.match(name):
                raise ConfigError(f"models: name {name!r} must be letters, digits, '.', '_' or '-'")
            if name in pairs:
                raise ConfigError(f"models: name {name!r} given twice")
            pairs[name] = path
        return pairs


def load_eval_config(args: list[str]) -> EvalConfig:
    (config,) = parse_config(EvalConfig, args=args)
    return config
