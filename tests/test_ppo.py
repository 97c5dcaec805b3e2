"""PPO stage: real `accelerate launch` runs of rlhf/ppo.py on the tiny model (rule reward, trained reward model,
LoRA, 2-process DDP, resume), plus config and prompt-loading checks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
from trl import ModelConfig, TrlParser

from rlhf.ppo import PPOScriptArguments
from rlhf.ppo_trainer import PPOArguments, launch_refusal
from rlhf.rewards import CombinedReward, EnsembleScorer, parse_reward_terms, reward_model_paths
from shared.data import load_prompts
from tests.conftest import REPO_ROOT, free_port, prompt_stage_args

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
        "num_eval_prompts": 8,
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
    return prompt_stage_args("configs/rlhf/ppo_tiny.yaml", model_dir, out, runs, prompts, **values)


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

    def pick(pool: list[int]) -> int:
        return pool[int(torch.randint(len(pool), (1,), generator=generator))]

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
    assert reports[0]["trainable_checksum"] == pytest.approx(
        reports[1]["trainable_checksum"], rel=1e-6
    )  # DDP kept them equal
    steps, evals = read_metrics(out)
    assert [r["step"] for r in steps] == [1, 2, 3] and evals[0]["eval/prompts"] == 4
    assert not (out / "adapter_config.json").exists()  # merged into a plain model
    assert (out / "value_model" / "adapter_config.json").is_file()  # LoRA critic saved as adapter + score head
    assert "adapter-disabled policy" in (out / "README.md").read_text(encoding="utf-8")
    merged, start = AutoModelForCausalLM.from_pretrained(out), AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert not torch.equal(merged.lm_head.weight, start.lm_head.weight)


def test_launch_refusal_names_the_reason_and_what_to_use_instead():
    supported = {"args": PPOArguments(), "use_peft": False, "deepspeed_installed": True, "cuda": True}
    assert launch_refusal(None, **supported) is None  # one process or DDP
    assert launch_refusal("deepspeed", **supported, distributed_type="DEEPSPEED", zero_stage=3) is None
    cases = [
        ("fsdp", {}, "FSDP is not supported"),
        ("deepspeed", {"deepspeed_installed": False}, "DeepSpeed is not installed"),
        ("deepspeed", {"cuda": False}, "runs only on CUDA GPUs"),
        ("deepspeed", {"distributed_type": "MULTI_CPU"}, "runs only on CUDA GPUs"),  # use_cpu: true on a GPU box
        ("deepspeed", {"distributed_type": "DEEPSPEED", "use_peft": True}, "LoRA under DeepSpeed"),
        ("deepspeed", {"distributed_type": "DEEPSPEED", "args": PPOArguments(save_steps=10)}, "checkpoints"),
    ]
    for requested, changes, expected in cases:
        reason = launch_refusal(requested, **(supported | changes))
        assert expected in reason and "\n" not in reason, (requested, changes, reason)
        assert "configs/accelerate/" in reason  # what to use instead


def launch_with_config(config: str | None, args: list[str], processes: int = 1, env: dict | None = None):
    """`accelerate launch --config_file <config>` (None: plain `python`), without raising on failure."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", **(env or {})}
    if config is None:
        command = [sys.executable, "rlhf/ppo.py"]
    else:
        accelerate = str(Path(sys.executable).parent / "accelerate")
        command = [accelerate, "launch", "--config_file", config, "--num_processes", str(processes)]
        command += ["--main_process_port", str(free_port()), "rlhf/ppo.py"]
    return subprocess.run([*command, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="with GPUs (and deepspeed) these configs are meant to run")
def test_ppo_refuses_deepspeed_and_fsdp_configs_at_start_in_one_line(tiny_model_dir, prompt_file, tmp_path):
    def refused(result, out):
        assert result.returncode != 0
        assert "ppo step" not in result.stdout and not (out / "metrics.jsonl").exists()  # no training step began
        return [line for line in result.stderr.splitlines() if line.startswith("PPO cannot start: ")]

    # DeepSpeed ZeRO-3 as `accelerate launch` runs it: on this machine the launcher itself stops first (no deepspeed)
    out = tmp_path / "zero3-launch"
    result = launch_with_config(
        "configs/accelerate/deepspeed_zero3.yaml", ppo_args(tiny_model_dir, out, tmp_path / "runs", prompt_file)
    )
    refused(result, out)
    assert "DeepSpeed is not installed" in result.stderr.strip().splitlines()[-1]
    # The script itself, in the environment `accelerate launch` gives it for that config: our one line, exit 1
    out = tmp_path / "zero3"
    env = {"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3"}
    result = launch_with_config(None, ppo_args(tiny_model_dir, out, tmp_path / "runs", prompt_file), env=env)
    lines = refused(result, out)
    assert result.returncode == 1 and len(lines) == 1 and lines[0] == result.stderr.strip().splitlines()[-1]
    assert (
        "asks for DeepSpeed, but DeepSpeed is not installed" in lines[0] and "configs/accelerate/cpu.yaml" in lines[0]
    )
    # FSDP (2 processes): accelerate would silently run it as DDP on CPU; each rank refuses in one line
    out = tmp_path / "fsdp"
    result = launch_with_config(
        "configs/accelerate/fsdp.yaml", ppo_args(tiny_model_dir, out, tmp_path / "runs", prompt_file), processes=2
    )
    lines = refused(result, out)
    assert len(lines) == 2 and len(set(lines)) == 1 and "FSDP is not supported" in lines[0]


@pytest.mark.gpu
@pytest.mark.slow
def test_ppo_under_deepspeed_zero3_on_one_gpu(tiny_model_dir, prompt_file, tmp_path):
    """The first check to run on a GPU machine with the gpu extra: ZeRO-3 (1 process) generation with gathered
    parameters, the joint policy/critic engine, the reference engine, and the 16-bit save."""
    pytest.importorskip("deepspeed")
    out = tmp_path / "ppo"
    overrides = {"max_steps": 2, "use_cpu": "false", "bf16": "true", "save_steps": 0, "num_eval_prompts": 4}
    result = launch_with_config(
        "configs/accelerate/deepspeed_zero3.yaml",
        ppo_args(tiny_model_dir, out, tmp_path / "runs", prompt_file, **overrides),
    )
    assert result.returncode == 0, result.stderr[-4000:]
    steps, evals = read_metrics(out)
    assert [r["step"] for r in steps] == [1, 2] and len(evals) == 2
    assert torch.isfinite(torch.tensor([r["loss/policy"] for r in steps])).all()
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    assert not torch.equal(reloaded.lm_head.weight, AutoModelForCausalLM.from_pretrained(tiny_model_dir).lm_head.weight)


def random_reward_model(model_dir, out, seed: int):
    """A reward model with the tiny backbone and a random score head (seeded): scores that differ per model."""
    torch.manual_seed(seed)
    AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1).save_pretrained(out)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(out)
    return out


def test_reward_model_ensemble_and_overlong_term(tiny_model_dir, tmp_path):
    from shared.reward_model import RewardScorer

    paths = [str(random_reward_model(tiny_model_dir, tmp_path / f"rm{i}", seed=i)) for i in range(2)]
    prompts, answers = ["Buğday ne zaman ekilir?"] * 3, ["Ekimde.", "Sonbaharda ekilir.", "ve ve ve ve"]
    single = [RewardScorer(path).score(prompts, answers) for path in paths]
    assert single[0] != single[1]
    ensemble = EnsembleScorer(paths, std_coef=0.5).score(prompts, answers)
    # mean − 0.5·|a − b|/2 per answer (population std of two values is half their distance)
    expected = [(a + b) / 2 - 0.5 * abs(a - b) / 2 for a, b in zip(*single)]
    assert ensemble == pytest.approx(expected, abs=1e-5)
    assert EnsembleScorer(paths[:1], std_coef=0.5).score(prompts, answers) == single[0]  # one model: its own score
    assert reward_model_paths("a") == ["a"] and reward_model_paths(["a", "b"]) == ["a", "b"]
    assert reward_model_paths("none") == reward_model_paths(["null"]) == reward_model_paths(None) == []
    # the overlong term (max 16 tokens, buffer 8) beside the ensemble: lengths 4, 12, 16 → 0, −0.5, −1
    reward = CombinedReward(
        {"reward_model": 1.0, "overlong": 2.0},
        paths,
        ensemble_std_coef=0.5,
        max_completion_length=16,
        overlong_buffer=8,
    )
    ids = [[1] * 4, [1] * 12, [1] * 16]
    assert reward.terms(prompts, answers, ids)["overlong"] == [0.0, -0.5, -1.0]
    assert reward(prompts, answers, ids) == pytest.approx([e + 2 * o for e, o in zip(expected, [0, -0.5, -1])])
    with pytest.raises(ValueError, match="overlong_buffer"):
        CombinedReward({"overlong": 1.0}, max_completion_length=16, overlong_buffer=0)


@pytest.mark.slow
def test_ppo_reward_hacking_guards_take_effect(tiny_model_dir, prompt_file, tmp_path, run_stage):
    """Every guard on in one short run, with a gold reward model: clipped scores stay within ±0.5 (and reach it),
    the clamped KL stays within 0.01 nats per token, the overlong term costs the answers that hit the length limit,
    and the held-out answers are scored by the proxy ensemble and the gold model."""
    proxies = [random_reward_model(tiny_model_dir, tmp_path / f"proxy{i}", seed=i) for i in range(2)]
    gold = random_reward_model(tiny_model_dir, tmp_path / "gold", seed=7)
    out, runs = tmp_path / "ppo", tmp_path / "runs"
    guards = {
        "reward_model": proxies,
        "ensemble_std_coef": 0.5,
        "reward_terms": ["reward_model=1.0", "overlong=1.0"],
        "overlong_buffer": 8,
        "reward_normalization": "true",
        "reward_clip": 0.5,
        "kl_log_ratio_clip": 0.01,
        "policy_log_ratio_clip": 1.0,
        "token_level_loss": "true",
        "gold_reward_model": gold,
    }
    run_stage(
        "rlhf/ppo.py",
        *ppo_args(
            tiny_model_dir,
            out,
            runs,
            prompt_file,
            max_steps=3,
            rollout_batch_size=16,
            forward_batch_size=16,
            per_device_train_batch_size=8,
            ppo_epochs=2,
            num_eval_prompts=4,
            **guards,
        ),
    )
    steps, evals = read_metrics(out)
    assert [r["step"] for r in steps] == [1, 2, 3]
    for row in steps:
        assert -0.5 <= row["objective/shaped_score_min"] <= row["objective/shaped_score_max"] <= 0.5, row
        # k1 per token clamped to ±0.01: the summed KL is at most 0.01 × the answer's length
        assert abs(row["objective/kl"]) <= 0.01 * row["response_length"] + 1e-6, row
    assert any(r["objective/shaped_score_max"] == 0.5 or r["objective/shaped_score_min"] == -0.5 for r in steps)
    # held out: mean score = proxy (ensemble) + overlong term; the random policy's answers run to the limit
    assert [r["step"] for r in evals] == [0, 3]
    for row in evals:
        overlong = row["eval/mean_score"] - row["eval/proxy_score"]
        assert -1.0 - 1e-6 <= overlong <= -0.5, row
        assert row["eval/gold_score"] != row["eval/proxy_score"]
    results = json.loads((out / "results.json").read_text())
    assert results["eval_gold_score_start"] == evals[0]["eval/gold_score"]
    assert results["eval_gold_score_end"] == evals[-1]["eval/gold_score"]
    assert {"eval_proxy_score_start", "eval_proxy_score_end"} <= set(results)
    tags = set(EventAccumulator(str(runs / "ppo" / "test")).Reload().Tags()["scalars"])
    assert {"eval/gold_score", "eval/proxy_score", "objective/shaped_score_max"} <= tags
