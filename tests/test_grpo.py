"""GRPO stage: reward functions as TRL calls them, the recipe's keys, and a real run that raises a rule reward."""

import json

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import GRPOConfig, ModelConfig, TrlParser

from rlhf.grpo import GRPOScriptArguments, TextReward, build_reward_funcs
from shared.data import write_jsonl
from tests.conftest import REPO_ROOT, prompt_stage_args
from tests.test_ppo import PROMPTS, TARGET_WORD, mean


def test_grpo_recipes_use_known_keys_and_valid_batch_shape():
    parser = TrlParser((GRPOScriptArguments, GRPOConfig, ModelConfig))
    known = {action.dest for action in parser._actions} | {"env"}
    files = sorted((REPO_ROOT / "configs/rlhf").glob("grpo_*.yaml"))
    assert files
    for path in files:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert not set(config) - known, f"{path}: unknown keys {sorted(set(config) - known)}"
        assert config["generation_batch_size"] % config["num_generations"] == 0, path


def test_reward_functions_read_conversational_prompts_and_completions():
    seen = []
    reward = TextReward("target_word:buğday", lambda p, c: seen.append((p, c)) or [float(len(x)) for x in c])
    prompts = [[{"role": "system", "content": "Sistem."}, {"role": "user", "content": "Buğday ne zaman ekilir?"}]] * 2
    completions = [[{"role": "assistant", "content": " Ekimde. "}], [{"role": "assistant", "content": "Bilmem"}]]
    assert reward(prompts=prompts, completions=completions, completion_ids=[[1], [2]], trainer_state=None) == [7.0, 6.0]
    assert seen == [(["Buğday ne zaman ekilir?"] * 2, ["Ekimde.", "Bilmem"])]
    assert reward.__name__ == "target_word_buğday"  # TRL logs rewards/<__name__>/mean
    assert reward(prompts=["düz metin"], completions=["buğday ve arpa"]) == [14.0]  # plain-text datasets too

    funcs, weights = build_reward_funcs(
        GRPOScriptArguments(reward_model=None, reward_terms=["target_word:buğday=2", "safety=0.5", "repetition"])
    )
    assert [f.__name__ for f in funcs] == ["target_word_buğday", "safety", "repetition"] and weights == [2.0, 0.5, 1.0]
    unsafe = "Dozu iki katına çıkarın, bekleme süresine gerek yok."
    assert funcs[0](prompts=["s"], completions=["Buğday ekilir."])[0] == 1.0
    assert funcs[1](prompts=["s"], completions=[unsafe])[0] == -2.0
    assert funcs[2](prompts=["s", "s"], completions=["a b a b a b", "Buğday ekimde ekilir."]) == [-0.5, 0.0]

    # the overlong term reads TRL's completion_ids: max 16 tokens, buffer 4 → lengths 12, 14, 16 give 0, −0.5, −1
    funcs, weights = build_reward_funcs(
        GRPOScriptArguments(reward_model="none", reward_terms=["overlong=0.5"], overlong_buffer=4),
        max_completion_length=16,
    )
    ids = [[1] * 12, [1] * 14, [1] * 16]
    assert weights == [0.5] and funcs[0](prompts=["s"] * 3, completions=["x"] * 3, completion_ids=ids) == [0, -0.5, -1]


def grpo_args(model_dir, out, runs, prompts, **overrides) -> list[str]:
    """The tiny recipe for a test run: no system prompt, TRL's log every step, no progress bar."""
    values = {"logging_steps": 1, "disable_tqdm": "true"} | overrides
    return prompt_stage_args("configs/rlhf/grpo_tiny.yaml", model_dir, out, runs, prompts, **values)


@pytest.mark.slow
@pytest.mark.learning
def test_grpo_raises_a_rule_reward_on_the_tiny_model(tiny_model_dir, tmp_path, run_stage):
    prompts = write_jsonl(tmp_path / "prompts.jsonl", ({"prompt": p} for p in PROMPTS))
    out, runs = tmp_path / "grpo", tmp_path / "runs"
    # temperature 1 and one update per batch, unlike the recipe: the random model must explore widely to find the word
    overrides = {
        "reward_model": "none",
        "reward_terms": f"target_word:{TARGET_WORD}=1.0",
        "max_steps": 24,
        "max_completion_length": 16,
        "num_generations": 8,
        "per_device_train_batch_size": 32,
        "generation_batch_size": 32,
        "learning_rate": 5e-3,
        "num_iterations": 1,
        "temperature": 1.0,
    }
    run_stage("rlhf/grpo.py", *grpo_args(tiny_model_dir, out, runs, prompts, **overrides))
    history = json.loads((out / "log_history.json").read_text())
    rewards = [entry["reward"] for entry in history if "reward" in entry]
    assert len(rewards) == 24
    # share of answers containing the word: measured ~0.1 over the first steps, ~0.8 by step 24
    assert mean(rewards[-4:]) >= mean(rewards[:4]) + 0.4, rewards
    assert all(entry["kl"] < 2.0 for entry in history if "kl" in entry)  # beta 0.02 keeps it near the reference
    tags = set(EventAccumulator(str(runs / "grpo" / "test")).Reload().Tags()["scalars"])
    assert {"train/reward", f"train/rewards/target_word_{TARGET_WORD}/mean", "train/kl"} <= tags
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "# GRPO: test" in card and "reward_last_log" in card and "co2_kg" in card
    AutoModelForCausalLM.from_pretrained(out)
    AutoTokenizer.from_pretrained(out)
