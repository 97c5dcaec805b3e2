"""Over-optimisation curves: proxy and gold reward-model scores of the policy's answers during a real training run."""

import json

import pytest
from datasets import Dataset
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

from shared.data import DataError, write_jsonl
from shared.eval.judge_callback import (
    JudgeCurve,
    JudgeCurveArguments,
    JudgeCurveCallback,
    judge_curve_callbacks,
    load_judge_prompts,
)
from shared.generation import DecodingSettings, generate_answers
from tests.conftest import REPO_ROOT
from tests.test_grpo import grpo_args

PROMPTS = ["Buğday ne zaman ekilir?", "Domates nasıl sulanır?", "Elmada karaleke nasıl önlenir?"]


class LengthScorer:
    def score(self, prompts, responses, batch_size=8):
        return [float(len(r)) for r in responses]


def test_callback_logs_proxy_and_gold_scores_at_start_every_n_steps_and_end(tiny_model_dir, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    before = generate_answers(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        tokenizer,
        PROMPTS,
        settings=DecodingSettings(max_new_tokens=12),
        system_prompt=None,
    )
    run_dir, out = tmp_path / "runs", tmp_path / "out"
    # the gold judge is a real reward model loaded from its path (the tiny model with a new score head)
    curve = JudgeCurve(
        tokenizer,
        PROMPTS,
        {"proxy": [LengthScorer()], "gold": [str(tiny_model_dir)]},
        run_dir=str(run_dir),
        output_dir=out,
        system_prompt=None,
        max_new_tokens=12,
    )
    conversations = [
        {"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": "Sonbaharda ekilir."}]}
        for p in PROMPTS
    ] * 4
    trainer = SFTTrainer(
        model=str(tiny_model_dir),
        args=SFTConfig(
            output_dir=str(out),
            max_steps=5,
            per_device_train_batch_size=2,
            learning_rate=5e-3,
            use_cpu=True,
            bf16=False,
            report_to=[],
            save_strategy="no",
            max_length=128,
        ),
        processing_class=tokenizer,
        train_dataset=Dataset.from_list(conversations),
        callbacks=[JudgeCurveCallback(curve, every=2)],
    )
    trainer.train()
    records = [json.loads(line) for line in (out / "judge_scores.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["step"] for r in records] == [0, 2, 4, 5]  # before training, every 2 steps, after the last
    assert records[0]["proxy_score"] == pytest.approx(sum(map(len, before)) / len(before))  # greedy, same answers
    assert all(isinstance(r["gold_score"], float) and r["prompts"] == 3 for r in records)
    events = EventAccumulator(str(run_dir)).Reload()
    for tag in ("eval/proxy_score", "eval/gold_score"):
        assert [e.step for e in events.Scalars(tag)] == [0, 2, 4, 5]
    assert events.Scalars("eval/proxy_score")[0].value == pytest.approx(records[0]["proxy_score"])


def test_callbacks_from_script_arguments(tiny_model_dir, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    common = {"proxy": LengthScorer(), "output_dir": str(tmp_path), "run_dir": str(tmp_path / "runs")}
    assert judge_curve_callbacks(JudgeCurveArguments(), tokenizer, **common) == []  # off by default
    with pytest.raises(ValueError, match="gold"):
        judge_curve_callbacks(JudgeCurveArguments(judge_eval_steps=5), tokenizer, **common)
    args = JudgeCurveArguments(gold_reward_model=["rm/a", "rm/b"], judge_eval_steps=5, judge_num_prompts=4)
    (callback,) = judge_curve_callbacks(args, tokenizer, **common)
    assert callback.every == 5 and len(callback.curve.prompts) == 4
    assert callback.curve.judges["gold"] == ["rm/a", "rm/b"]  # an ensemble, loaded on first use
    open_qa = [json.loads(line) for line in (REPO_ROOT / "data/eval/open_qa.jsonl").read_text().splitlines()[:4]]
    assert callback.curve.prompts == [row["question"] for row in open_qa]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "Soru?"}\n{"text": "soru yok"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="bad.jsonl:2"):
        load_judge_prompts(bad)


@pytest.mark.slow
def test_grpo_logs_the_curves_when_a_gold_judge_is_given(tiny_model_dir, tmp_path, run_stage):
    prompts = write_jsonl(tmp_path / "prompts.jsonl", ({"prompt": p} for p in PROMPTS))
    out, runs = tmp_path / "grpo", tmp_path / "runs"
    overrides = {
        "reward_model": tiny_model_dir,  # the proxy the curve scores with (a causal LM gets a new score head)
        "reward_terms": "target_word:buğday=1.0",
        "gold_reward_model": tiny_model_dir,
        "judge_eval_steps": 2,
        "judge_num_prompts": 3,
        "judge_max_new_tokens": 8,
        "max_steps": 4,
        "max_completion_length": 8,
        "num_generations": 4,
        "per_device_train_batch_size": 8,
        "generation_batch_size": 8,
    }
    run_stage("rlhf/grpo.py", *grpo_args(tiny_model_dir, out, runs, prompts, **overrides))
    records = [json.loads(line) for line in (out / "judge_scores.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["step"] for r in records] == [0, 2, 4] and all(r["prompts"] == 3 for r in records)
    events = EventAccumulator(str(runs / "grpo" / "test")).Reload()
    for tag in ("eval/proxy_score", "eval/gold_score"):
        assert [e.step for e in events.Scalars(tag)] == [0, 2, 4]
