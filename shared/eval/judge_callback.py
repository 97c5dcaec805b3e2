"""Over-optimisation curves: the proxy and gold reward models' mean scores of the policy's answers over training.

Every `every` steps (and before the first and after the last), the current policy answers the same held-out
prompts greedily; the proxy judge (the reward model the policy is trained against) and the gold judge (trained on
disjoint pairs, never a training reward) score the answers. Logged to TensorBoard as `eval/proxy_score` and
`eval/gold_score` at the global step, and as one JSON line per measurement in `<output_dir>/judge_scores.jsonl`.
When the proxy keeps rising while the gold score stalls or falls, the policy is over-optimising the proxy (Gao et
al. 2022, "Scaling Laws for Reward Model Overoptimization").

`JudgeCurve.measure(model, step)` is the loop-agnostic core (our PPO loop calls it); `JudgeCurveCallback` wraps it
for TRL/transformers trainers (GRPO), and `judge_curve_callbacks(args, ...)` builds it from `JudgeCurveArguments`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import TrainerCallback

from shared.data import DataError, read_rows
from shared.eval.reward_judged import Member, Scorer, load_scorer
from shared.eval.text_metrics import word_count
from shared.generation import DEFAULT_SYSTEM_PROMPT, DecodingSettings, generate_answers
from shared.tensorboard import log_scalars
from shared.text import repeated_ngram_share


@dataclass
class JudgeCurveArguments:
    """Script arguments for the curves (GRPO's script parses them; the proxy is the script's `reward_model`)."""

    gold_reward_model: list[str] = field(
        default_factory=list,
        metadata={"help": "gold judge: reward model path(s), a list is an ensemble; empty: no curves"},
    )
    judge_eval_steps: int = field(default=0, metadata={"help": "measure every N optimizer steps (0: off)"})
    judge_prompts: str = field(
        default="data/eval/open_qa.jsonl", metadata={"help": "held-out prompts: rows with `question` or `prompt`"}
    )
    judge_num_prompts: int = 16
    judge_max_new_tokens: int = 128
    judge_batch_size: int = 8


def load_judge_prompts(path: str | Path, limit: int | None = None) -> list[str]:
    """The first `limit` prompts of a JSONL/JSON/CSV file: each row's `question` (open QA) or `prompt`."""
    prompts = []
    for row in read_rows(path):
        text = (row.data or {}).get("question") or (row.data or {}).get("prompt")
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{row.source}:{row.line}: question: a row needs a `question` or `prompt` text")
        prompts.append(text)
        if limit is not None and len(prompts) >= limit:
            break
    return prompts


class JudgeCurve:
    """Generate answers for fixed prompts with the current policy and score them with the proxy and gold judges.

    Judges are reward-model paths (loaded on first use, on the policy's device) or scorer objects; a list is an
    ensemble scored by the mean of its members."""

    def __init__(
        self,
        tokenizer,
        prompts: Sequence[str],
        judges: dict[str, Sequence[Member]],
        *,
        run_dir: str | None,
        output_dir: str | Path | None,
        system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
        max_new_tokens: int = 128,
        batch_size: int = 8,
        seed: int = 0,
    ):
        if not prompts:
            raise ValueError("JudgeCurve needs at least one held-out prompt")
        self.tokenizer, self.prompts, self.system_prompt = tokenizer, list(prompts), system_prompt
        self.judges = {name: list(members) for name, members in judges.items() if members}
        self.run_dir, self.batch_size = run_dir, batch_size
        self.path = Path(output_dir) / "judge_scores.jsonl" if output_dir else None
        self.settings = DecodingSettings(max_new_tokens=max_new_tokens, do_sample=False, seed=seed)
        self.history: list[dict[str, Any]] = []

    def _scorers(self, device: torch.device) -> dict[str, list[Scorer]]:
        for members in self.judges.values():
            for index, member in enumerate(members):
                if isinstance(member, str):
                    members[index] = load_scorer(member, str(device))  # once; kept for the next measurements
        return self.judges

    @torch.no_grad()
    def measure(self, model, step: int) -> dict[str, Any]:
        """Answer the prompts greedily, score them with every judge, log; returns the logged record."""
        start = time.perf_counter()
        device = next(model.parameters()).device
        with torch.autocast(device.type, enabled=False):  # generation in the weights' dtype, as in evaluation
            answers = generate_answers(
                model,
                self.tokenizer,
                self.prompts,
                settings=self.settings,
                system_prompt=self.system_prompt,
                batch_size=self.batch_size,
            )
        record: dict[str, Any] = {"step": step}
        for name, scorers in self._scorers(device).items():
            member_scores = [s.score(self.prompts, answers, batch_size=self.batch_size) for s in scorers]
            record[f"{name}_score"] = float(np.mean(member_scores))  # ensemble mean, then mean over prompts
            if len(scorers) > 1:
                record[f"{name}_member_scores"] = [float(np.mean(m)) for m in member_scores]
        record |= {
            "prompts": len(self.prompts),
            "answer_words": float(np.mean([word_count(a) for a in answers])),
            "repetition": float(np.mean([repeated_ngram_share(a) for a in answers])),
            "sample": answers[0],
            "seconds": round(time.perf_counter() - start, 2),
        }
        if self.run_dir:
            scores = {f"eval/{name}_score": record[f"{name}_score"] for name in self.judges}
            log_scalars(self.run_dir, scores, step)
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.history.append(record)
        return record


class JudgeCurveCallback(TrainerCallback):
    """Measures a `JudgeCurve` at step 0, every `every` optimizer steps and at the end (main process only)."""

    def __init__(self, curve: JudgeCurve, every: int):
        if every < 1:
            raise ValueError(f"judge_eval_steps must be at least 1, got {every}")
        self.curve, self.every = curve, every
        self.last_step: int | None = None

    def _measure(self, state, model) -> None:
        if state.is_world_process_zero and model is not None and state.global_step != self.last_step:
            self.curve.measure(model, state.global_step)
            self.last_step = state.global_step

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._measure(state, model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0:
            self._measure(state, model)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self._measure(state, model)


def judge_curve_callbacks(
    args: JudgeCurveArguments,
    tokenizer,
    *,
    proxy: Member | Sequence[Member] | None,
    output_dir: str,
    run_dir: str,
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
    seed: int = 0,
) -> list[JudgeCurveCallback]:
    """[] unless `judge_eval_steps` > 0; otherwise the callback scoring with the proxy and `gold_reward_model`."""
    if args.judge_eval_steps <= 0:
        return []
    if not args.gold_reward_model:
        raise ValueError("judge_eval_steps is set but gold_reward_model is empty: the curves need a gold judge")
    proxy_members = [proxy] if isinstance(proxy, str) or hasattr(proxy, "score") else list(proxy or [])
    curve = JudgeCurve(
        tokenizer,
        load_judge_prompts(args.judge_prompts, args.judge_num_prompts),
        {"proxy": proxy_members, "gold": list(args.gold_reward_model)},
        run_dir=run_dir,
        output_dir=output_dir,
        system_prompt=system_prompt,
        max_new_tokens=args.judge_max_new_tokens,
        batch_size=args.judge_batch_size,
        seed=seed,
    )
    return [JudgeCurveCallback(curve, args.judge_eval_steps)]
