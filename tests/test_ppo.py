"""PPO stage: real `accelerate launch` runs of rlhf/ppo.py on the tiny model (rule reward, trained reward model,
LoRA, 2-process DDP, resume), plus config and prompt-loading checks."""

import json

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import ModelConfig, TrlParser

from rlhf.ppo import PPOScriptArguments, load_prompts
from rlhf.ppo_trainer import PPOArguments
from rlhf.rewards import parse_reward_terms
from tests.conftest import REPO_ROOT

PROMPTS = [
    "Buğday ne zaman ekilir?",
    "Domateste yaprak kıvrılması neden olur?",
    "Mısır için dekara ne kadar gübre verilir?",
    "Fındıkta külleme ile nasıl mücadele edilir?",
    "Süt ineğine günde ne kadar yem verilir?",
    "Zeytin hasadı ne zaman yapılır?",
    "Damla sulama nasıl kurulur?",
    "Toprak analizi neden önemlidir?",
    "Arpa ekiminde tohum miktarı nedir?",
    "Biberde çiçek dökümü neden olur?",
    "Elma ağacı nasıl budanır?",
    "Pamukta yaprak biti ile nasıl mücadele edilir?",
    "Ayçiçeği hangi toprakları sever?",
    "Çilek fidesi ne zaman dikilir?",
    "Koyunlarda şap hastalığı belirtileri nelerdir?",
    "Seralarda nem nasıl kontrol edilir?",
    "Patates ekimi için en uygun zaman nedir?",
    "Üzüm bağında mildiyö nasıl önlenir?",
    "Tarım kredi kooperatifine nasıl üye olunur?",
    "Kuraklıkta buğday nasıl sulanır?",
    "Nohut ekiminde nelere dikkat edilir?",
    "Organik gübre nasıl hazırlanır?",
    "Arıcılıkta kışlatma nasıl yapılır?",
    "Salatalıkta mozaik virüsü nasıl anlaşılır?",
    "Kayısıda don zararı nasıl önlenir?",
    "Çeltik tarlası nasıl hazırlanır?",
    "Şeker pancarında yabancı ot nasıl kontrol edilir?",
    "Limon ağacı ne sıklıkla sulanır?",
    "Karpuzda çatlama neden olur?",
    "Tarımsal destek başvurusu nasıl yapılır?",
    "Yonca kaç kez biçilir?",
    "Sarımsak ne zaman hasat edilir?",
    "Kirazda meyve sineği ile nasıl mücadele edilir?",
    "Toprağın pH değeri nasıl düzeltilir?",
    "Mercimek ekimi hangi ayda yapılır?",
    "Buzağı beslemesinde ilk hafta nelere dikkat edilir?",
    "Sera domatesinde tozlaşma nasıl sağlanır?",
    "Tavuklarda yumurta verimi nasıl artırılır?",
    "Fıstık ağacı kaç yılda meyve verir?",
    "Hayvan pancarı hayvanlara nasıl verilir?",
]
# A Turkish word ("and") that the tiny tokenizer has as one token and that a random-init model already emits now and
# then (~15% of 16-token answers contain it), so PPO has a signal from the first step. A rarer word such as
# "buğday" (one token too, but ~1% of answers) gives almost no positive samples to learn from in a short test.
TARGET_WORD = "ve"


@pytest.fixture(scope="module")
def prompt_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("prompts") / "prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": p}, ensure_ascii=False) + "\n" for p in PROMPTS), encoding="utf-8")
    return path


def ppo_args(model_dir, out, runs, prompts, **overrides):
    """The tiny recipe, shrunk for a test: 16-token answers, no system prompt, value model from the policy."""
    values = {
        "model_name_or_path": model_dir,
        "output_dir": out,
        "runs_dir": runs,
        "run_name": "test",
        "prompt_data": prompts,
        "num_eval_prompts": 8,
        "system_prompt": "none",
        "reward_model": "none",
        "reward_terms": f"target_word:{TARGET_WORD}=1.0",
        "max_new_tokens": 16,
        "temperature": 1.0,  # the random-init model explores widely to find the word (the recipe may sample colder)
        "missing_eos_penalty": "none",
        "rollout_batch_size": 32,
        "forward_batch_size": 32,
        "per_device_train_batch_size": 16,
        "gradient_accumulation_steps": 1,
        "ppo_epochs": 4,
        "learning_rate": 5e-3,
        "value_learning_rate": 5e-3,
        "kl_coef": 0.1,
        "sample_steps": 5,
        "save_steps": 0,
    } | overrides
    args = ["--config", "configs/rlhf/ppo_tiny.yaml"]
    for key, value in values.items():
        args += [f"--{key}", *(map(str, value) if isinstance(value, list) else [str(value)])]
    return args


def read_metrics(out):
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "objective/mean_score" in r], [r for r in rows if "eval/mean_score" in r]


def mean(values):
    return sum(values) / len(values)


def test_ppo_recipes_use_known_keys():
    parser = TrlParser((PPOScriptArguments, PPOArguments, ModelConfig))
    known = {action.dest for action in parser._actions} | {"env"}
    files = sorted((REPO_ROOT / "configs/rlhf").glob("ppo_*.yaml"))
    assert len(files) >= 2
    for path in files:
        unknown = set(yaml.safe_load(path.read_text(encoding="utf-8"))) - known
        assert not unknown, f"{path}: unknown keys {sorted(unknown)}"


def test_prompts_from_annotation_rows_and_sft_user_turns(tmp_path):
    annotation, sft = tmp_path / "a.jsonl", tmp_path / "sft.jsonl"
    annotation.write_text(json.dumps({"id": "1", "prompt": "Buğday ne zaman ekilir?"}, ensure_ascii=False) + "\n")
    messages = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Toprak analizi neden önemlidir?"},
        {"role": "assistant", "content": "Çünkü..."},
        {"role": "user", "content": "Ne sıklıkla?"},
    ]
    sft.write_text(
        json.dumps({"messages": messages}, ensure_ascii=False)
        + "\n"
        + json.dumps({"prompt": "Buğday ne zaman ekilir?"})
        + "\n"
    )
    assert load_prompts([str(annotation), str(sft)]) == ["Buğday ne zaman ekilir?", "Toprak analizi neden önemlidir?"]
    assert parse_reward_terms(["reward_model=1.0", "target_word:buğday=0.5", "safety"]) == {
        "reward_model": 1.0,
        "target_word:buğday": 0.5,
        "safety": 1.0,
    }


@pytest.fixture(scope="module")
def rule_run(tiny_model_dir, prompt_file, tmp_path_factory, run_stage):
    """14 PPO steps with the target-word reward, full fine-tuning, a checkpoint at step 7."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert len(tokenizer.tokenize(f" {TARGET_WORD}")) == 1
    root = tmp_path_factory.mktemp("ppo-rule")
    out, runs = root / "ppo", root / "runs"
    run_stage("rlhf/ppo.py", *ppo_args(tiny_model_dir, out, runs, prompt_file, max_steps=14, save_steps=7))
    return out, runs, prompt_file


@pytest.mark.slow
@pytest.mark.learning
def test_ppo_rule_reward_rises_with_bounded_kl_and_saves_a_reloadable_policy(rule_run, tiny_model_dir):
    out, runs, _ = rule_run
    steps, evals = read_metrics(out)
    assert [r["step"] for r in steps] == list(range(1, 15))
    scores = [r["objective/mean_score"] for r in steps]
    kls = [r["objective/kl"] for r in steps]
    # share of answers containing the word: ~0.15 at the start, clearly higher after 14 steps
    assert mean(scores[-4:]) >= mean(scores[:4]) + 0.25, scores  # measured: 0.20 → 0.66
    # KL to the reference, summed over the 16 tokens: grows as the policy moves, held in check by kl_coef 0.1
    # (measured ≤ 10.4 nats; with kl_coef 0.02 the same run drifts past 25)
    assert max(kls) < 20.0 and all(k > -1.0 for k in kls), kls
    assert (
        evals[0]["step"] == 0 and evals[-1]["step"] == 14 and evals[-1]["eval/mean_score"] > evals[0]["eval/mean_score"]
    )
    results = json.loads((out / "results.json").read_text())
    assert results["ppo_steps"] == 14 and results["eval_mean_score_end"] == evals[-1]["eval/mean_score"]
    # TensorBoard: every required scalar, and sample generations as text
    accumulator = EventAccumulator(str(runs / "ppo" / "test")).Reload()
    required = {
        "objective/mean_score",
        "objective/kl",
        "objective/non_score_reward",
        "policy/entropy",
        "policy/clipfrac",
        "policy/approx_kl",
        "loss/policy",
        "loss/value",
        "val/explained_variance",
        "response_length",
        "kl_coef",
        "eval/mean_score",
    }
    assert required <= set(accumulator.Tags()["scalars"])
    assert any("samples/generations" in tag for tag in accumulator.Tags()["tensors"])
    # Outputs: card with compute, a reloadable policy that differs from the start, the value model
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "# PPO: test" in card and "co2_kg" in card and "reference model: frozen copy" in card
    policy, start = AutoModelForCausalLM.from_pretrained(out), AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert not torch.equal(policy.lm_head.weight, start.lm_head.weight)
    tokenizer = AutoTokenizer.from_pretrained(out)
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Buğday ne zaman ekilir?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    assert policy.generate(**inputs, max_new_tokens=4, do_sample=False).shape[1] > inputs["input_ids"].shape[1]
    assert (out / "value_model" / "config.json").is_file()
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-14", "checkpoint-7"]


@pytest.mark.slow
def test_ppo_resume_continues_the_step_count_and_reproduces_the_run(rule_run, tiny_model_dir, tmp_path, run_stage):
    out, _, prompts = rule_run
    state = json.loads((out / "checkpoint-7" / "trainer_state.json").read_text())
    assert state["step"] == 7 and state["kl_controller"]["value"] == pytest.approx(0.1)
    resumed = tmp_path / "resumed"
    result = run_stage(
        "rlhf/ppo.py",
        *ppo_args(
            tiny_model_dir,
            resumed,
            tmp_path / "runs",
            prompts,
            max_steps=10,
            resume_from_checkpoint=out / "checkpoint-7",
        ),
    )
    assert "resumed from" in result.stdout + result.stderr
    steps, _ = read_metrics(resumed)
    assert [r["step"] for r in steps] == [8, 9, 10]
    # Same weights, optimizer state, RNG and prompt order as the uninterrupted run: the same steps 8-10.
    original = {r["step"]: r for r in read_metrics(out)[0]}
    for row in steps:
        for name in ("objective/mean_score", "objective/kl", "loss/policy", "response_length"):
            assert row[name] == pytest.approx(original[row["step"]][name], rel=1e-3, abs=1e-4), (row["step"], name)


def target_word_preferences(tokenizer, count: int = 96, length: int = 16) -> list[dict]:
    """Pairs of random-token answers (what the random-init tiny policy writes) where the chosen one has tokens
    containing the target word at two places: the reward model learns a feature that the policy already shows in
    ~15% of its answers, so PPO's effect is measurable within a few steps."""
    from shared.text import turkish_lower

    special = set(tokenizer.all_special_ids)
    has_word = [TARGET_WORD in turkish_lower(tokenizer.decode([i])) for i in range(len(tokenizer))]
    with_word = [i for i in range(len(tokenizer)) if has_word[i] and i not in special]
    other = [i for i in range(len(tokenizer)) if not has_word[i] and i not in special]
    generator, rows = torch.Generator().manual_seed(0), []
    pick = lambda pool: pool[int(torch.randint(len(pool), (1,), generator=generator))]  # noqa: E731
    for n in range(count):
        rejected = [pick(other) for _ in range(length)]
        chosen = list(rejected)
        for position in torch.randperm(length, generator=generator)[:2]:
            chosen[int(position)] = pick(with_word)
        rows.append(
            {
                "prompt": PROMPTS[n % len(PROMPTS)],
                "chosen": tokenizer.decode(chosen).strip(),
                "rejected": tokenizer.decode(rejected).strip(),
                "strength": 2,
            }
        )
    return rows


@pytest.mark.slow
@pytest.mark.learning
def test_ppo_with_a_trained_reward_model_raises_held_out_score(tiny_model_dir, prompt_file, tmp_path, run_stage):
    """Reward model trained with reward/train.py on a small preference fixture; the value model starts from it; the
    mean reward-model score on held-out prompts rises over the starting policy."""
    prefs = tmp_path / "prefs.jsonl"
    rows = target_word_preferences(AutoTokenizer.from_pretrained(tiny_model_dir))
    prefs.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    rm = tmp_path / "rm"
    run_stage(
        "reward/train.py",
        "--config",
        "configs/reward/tiny.yaml",
        "--model_name_or_path",
        str(tiny_model_dir),
        "--train_data",
        str(prefs),
        "--eval_data",
        str(prefs),
        "--output_dir",
        str(rm),
        "--runs_dir",
        str(tmp_path / "runs"),
        "--run_name",
        "rm",
        "--max_steps",
        "60",
        "--max_length",
        "128",
        # a margin of 3 (1.5 × strength 2): the reward model separates answers with the word by ~2 instead of
        # ~0.6 (30 steps, no margin), so PPO's gain is far above kernel noise on every CPU
        "--use_strength_margin",
        "true",
        "--margin_scale",
        "1.5",
    )
    out = tmp_path / "ppo"
    run_stage(
        "rlhf/ppo.py",
        *ppo_args(
            tiny_model_dir,
            out,
            tmp_path / "runs",
            prompt_file,
            reward_model=rm,
            reward_terms="reward_model=1.0",
            max_steps=10,
            num_eval_prompts=16,
        ),
    )
    results = json.loads((out / "results.json").read_text())
    scores = [r["objective/mean_score"] for r in read_metrics(out)[0]]
    # measured (steps 1-3 → 8-10; held-out 16 prompts, start → end) under the default kernels, AVX512_CORE_BF16
    # and AVX2: see docs/benchmarks.md. With the old 30-step reward model the gain was +0.06 to +0.64 by CPU.
    assert mean(scores[-3:]) > mean(scores[:3]) + 0.3, scores
    assert results["eval_mean_score_end"] > results["eval_mean_score_start"] + 0.1, results
    card = (out / "README.md").read_text(encoding="utf-8")
    assert f"value model initialised from {rm}" in card and "reward_model=1.0" in card


@pytest.mark.slow
def test_ppo_lora_runs_as_two_ddp_processes(tiny_model_dir, prompt_file, tmp_path, run_stage):
    """2 gloo processes (world size checked inside), LoRA policy: reference = adapter-disabled policy, LoRA critic,
    merged save."""
    out = tmp_path / "ppo"
    run_stage(
        "rlhf/ppo.py",
        *ppo_args(
            tiny_model_dir,
            out,
            tmp_path / "runs",
            prompt_file,
            max_steps=3,
            rollout_batch_size=8,
            forward_batch_size=8,
            per_device_train_batch_size=4,
            gradient_accumulation_steps=2,
            ppo_epochs=1,
            num_eval_prompts=4,
            use_peft="true",
            lora_r=8,
            lora_alpha=16,
            lora_target_modules=["q_proj", "v_proj", "lm_head"],
        ),
        processes=2,
    )
    reports = [json.loads((out / "ranks" / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["world_size"] for r in reports] == [2, 2] and [r["env_world_size"] for r in reports] == [2, 2]
    assert {r["backend"] for r in reports} == {"gloo"}
    assert reports[0]["ppo_steps"] == reports[1]["ppo_steps"] == 3
    assert reports[0]["policy_checksum"] == pytest.approx(
        reports[1]["policy_checksum"], rel=1e-6
    )  # DDP kept them equal
    steps, evals = read_metrics(out)
    assert [r["step"] for r in steps] == [1, 2, 3] and evals[0]["eval/prompts"] == 4
    assert not (out / "adapter_config.json").exists()  # merged into a plain model
    assert (out / "value_model" / "adapter_config.json").is_file()  # LoRA critic saved as adapter + score head
    assert "adapter-disabled policy" in (out / "README.md").read_text(encoding="utf-8")
    merged, start = AutoModelForCausalLM.from_pretrained(out), AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert not torch.equal(merged.lm_head.weight, start.lm_head.weight)
