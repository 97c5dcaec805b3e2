"""The evaluation config: one dataclass read from configs/eval/*.yaml, every key overridable on the command line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

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
        default=None,
        metadata={
            "help": "the proxy judge's reward model (same as reward_models: {proxy: path}): proxy_score, win rate"
        },
    )
    reward_models: dict | str | None = field(
        default=None,
        metadata={
            "help": "named reward-model judges, {name: path or [paths]} (a list is an ensemble: the mean of its "
            "members' scores), e.g. {proxy: artifacts/reward/proxy, gold: [a, b]}; on the command line as YAML: "
            "'{proxy: a, gold: [b, c]}'. Each judge adds <name>_score; the proxy also rm_win_rate"
        },
    )
    independent_judges: list[str] = field(
        default_factory=lambda: ["gold"],
        metadata={"help": "judges trained on pairs disjoint from every policy's data and never a training reward"},
    )
    judge_members: bool = field(default=False, metadata={"help": "also report each ensemble member's score"})
    judge_test_data: str | None = field(
        default="data/preferences/test.jsonl",
        metadata={"help": "preference pairs for each judge's pairwise accuracy and calibration (none: skip)"},
    )
    max_judge_test: int | None = None
    reward_batch_size: int = 8
    bootstrap_samples: int = 1000
    device: str = "auto"
    dtype: str = field(default="auto", metadata={"help": "auto (bf16 on GPU, fp32 on CPU) | float32 | bfloat16"})
    runs_dir: str = field(default="runs", metadata={"help": "TensorBoard root: scalars go to <runs_dir>/eval/<name>"})
    output_dir: str = field(default="artifacts/eval/tiny", metadata={"help": "report.md, results.json, plots"})
    baselines: list[str] = field(
        default_factory=lambda: ["base", "sft"],
        metadata={
            "help": "baseline model names in training order; without `comparisons`, each later baseline is compared "
            "with the one before it (sft-base) and every other model with the last one present (dpo-sft)"
        },
    )
    comparisons: list[str] | None = field(
        default=None,
        metadata={"help": "paired deltas as model-baseline, e.g. [sft-base, dpo-sft, ppo-sft]; default from baselines"},
    )

    def __post_init__(self):
        unknown = sorted(set(self.tasks) - set(TASKS))
        if unknown:
            raise ConfigError(f"unknown task(s) {unknown} (use {', '.join(TASKS)})")
        for name in ("reward_model", "judge_test_data"):
            if isinstance(getattr(self, name), str) and getattr(self, name).lower() in {"", "none", "null"}:
                setattr(self, name, None)  # `--reward_model none` on the command line switches it off

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

    def judge_paths(self) -> dict[str, list[str]]:
        """{judge name: member paths}; `reward_model` is the proxy judge."""
        raw: Any = self.reward_models
        if isinstance(raw, str):
            try:
                raw = yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                raise ConfigError(f"reward_models: not a YAML mapping: {exc}") from None
        if raw in (None, "none", "null"):
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"reward_models: expected {{name: path or [paths]}}, got {raw!r}")
        judges: dict[str, list[str]] = {}
        for name, members in raw.items():
            if not isinstance(name, str) or not _MODEL_NAME.match(name):
                raise ConfigError(f"reward_models: judge name {name!r} must be letters, digits, '.', '_' or '-'")
            members = [members] if isinstance(members, str) else members
            if not isinstance(members, list) or not members or not all(isinstance(m, str) and m for m in members):
                raise ConfigError(f"reward_models.{name}: expected a path or a non-empty list of paths")
            judges[name] = list(members)
        if self.reward_model:
            if "proxy" in judges and judges["proxy"] != [self.reward_model]:
                raise ConfigError(
                    f"the proxy judge is given twice: reward_model={self.reward_model!r} and "
                    f"reward_models.proxy={judges['proxy']!r}; keep one"
                )
            judges = {"proxy": [self.reward_model], **judges}
        return judges

    def comparison_pairs(self) -> list[tuple[str, str]]:
        """(model, baseline) pairs for the paired deltas, among the models of this run.

        From `comparisons` ("model-baseline"; names may contain '-', so the split must leave two model names), or
        by default from `baselines`: each baseline present is compared with the previous one present, every
        other model with the last baseline present (base, sft, dpo, ppo → sft-base, dpo-sft, ppo-sft)."""
        names = list(self.model_paths())
        if self.comparisons is None:
            present = [b for b in self.baselines if b in names]
            pairs = [(later, earlier) for earlier, later in zip(present, present[1:])]
            if present:
                pairs += [(name, present[-1]) for name in names if name not in present]
            return pairs
        pairs = []
        for entry in self.comparisons:
            splits = [
                (entry[:i], entry[i + 1 :])
                for i, char in enumerate(entry)
                if char == "-" and entry[:i] in names and entry[i + 1 :] in names
            ]
            if len(splits) != 1:
                problem = "is ambiguous" if splits else "does not name two models of this run"
                raise ConfigError(f"comparisons: {entry!r} {problem} (expected model-baseline among {names})")
            if splits[0][0] == splits[0][1]:
                raise ConfigError(f"comparisons: {entry!r} compares a model with itself")
            pairs.append(splits[0])
        return pairs


def load_eval_config(args: list[str]) -> EvalConfig:
    (config,) = parse_config(EvalConfig, args=args)
    return config
