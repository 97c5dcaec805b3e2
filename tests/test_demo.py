"""`make demo DEMO_SCALE=fast`: the whole loop end to end on the <1M model, then `make round` on its outputs;
plus the stop-at-first-failure rule and the loop checks."""

import json
import subprocess
import sys

import pytest
import yaml
from sqlalchemy import func, select

from annotation_app.config import DEFAULT_DB_PATH, AppConfig
from annotation_app.service import AnnotationService, VoteInput
from annotation_app.storage import Candidate
from pipeline.demo import check_lines, enforce_checks, loop_checks, real_checks, stages
from pipeline.stages import Stage, run_stages
from tests.conftest import REPO_ROOT


def test_demo_stops_at_the_first_failing_stage_and_names_it(tmp_path):
    plan = [
        Stage("ok", [sys.executable, "-c", "print('fine')"]),
        Stage("broken stage", [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]),
        Stage("never", [sys.executable, "-c", "open('never-ran', 'w')"]),
    ]
    with pytest.raises(SystemExit) as excinfo:
        run_stages(plan, tmp_path)
    message = str(excinfo.value)
    assert "stopped at stage 'broken stage' (exit 3)" in message and "boom" in message
    assert not (REPO_ROOT / "never-ran").exists()


def test_loop_checks_compare_sft_with_base_and_aligned_models_with_sft():
    def metrics(**values):
        return {"metrics": {name: {"value": v, "low": v, "high": v} for name, v in values.items()}}

    results = {
        "base": metrics(mcq_acc=0.2, val_perplexity=900.0, proxy_score=-1.0),
        "sft": metrics(mcq_acc=0.5, val_perplexity=400.0, proxy_score=0.1),
        "dpo": metrics(proxy_score=0.3),
        "ppo": metrics(proxy_score=0.05),
    }  # no grpo: no check for it
    verdicts = {(c["model"], c["metric"]): c["ahead"] for c in loop_checks(results)}
    assert verdicts == {
        ("sft", "mcq_acc"): True,
        ("sft", "val_perplexity"): True,
        ("dpo", "proxy_score"): True,
        ("ppo", "proxy_score"): False,
    }


def test_a_failed_loop_check_is_named_and_fails_the_full_demo():
    checks = loop_checks(
        {
            "sft": {"metrics": {"proxy_score": {"value": -3.675}}},
            "ppo": {"metrics": {"proxy_score": {"value": -5.676}}},  # what the issue saw: `make demo` still exited 0
            "dpo": {"metrics": {"proxy_score": {"value": -1.0}}},
        }
    )
    with pytest.raises(SystemExit, match=r"^demo: 1 loop check\(s\) failed: ppo not ahead of sft on proxy_score$"):
        enforce_checks(checks, "full")
    enforce_checks(checks, "fast")  # the smoke run only reports


def delta(model, baseline, metric, model_value, baseline_value, low, high, verdict):
    return {
        "model": model,
        "baseline": baseline,
        "metric": metric,
        "model_value": model_value,
        "baseline_value": baseline_value,
        "delta": model_value - baseline_value,
        "low": low,
        "high": high,
        "n": 200,
        "verdict": verdict,
    }


def test_real_checks_read_the_paired_intervals_not_the_point_values():
    deltas = [
        delta("sft", "base", "mcq_acc", 0.40, 0.29, 0.04, 0.18, "ahead"),
        delta("sft", "base", "fact_recall", 0.02, 0.0, -0.001, 0.04, "no significant difference"),  # point up, CI ∋ 0
        delta("sft", "base", "chrf", 16.4, 9.4, 5.1, 8.8, "ahead"),
        delta("dpo", "sft", "gold_score", 0.9, 0.2, 0.3, 1.1, "ahead"),
        delta("dpo", "sft", "repetition", 0.50, 0.47, 0.0, 0.06, "no significant difference"),  # > SFT + 0.02
        delta("dpo", "sft", "safety_any", 0.05, 0.04, -0.02, 0.04, "no significant difference"),
        delta("dpo", "sft", "mcq_acc", 0.33, 0.40, -0.12, -0.02, "behind"),
        delta("ppo", "sft", "bleu", 3.0, 2.0, 0.5, 1.5, "ahead"),  # not a check
    ]
    held = {(c["model"], c["metric"]): c["ahead"] for c in real_checks(deltas)}
    assert held == {
        ("sft", "mcq_acc"): True,
        ("sft", "fact_recall"): False,
        ("sft", "chrf"): True,
        ("dpo", "gold_score"): True,
        ("dpo", "repetition"): False,
        ("dpo", "safety_any"): True,
        ("dpo", "mcq_acc"): False,
    }
    lines = check_lines(real_checks(deltas))
    assert "  ✗ sft not ahead of base on fact_recall: 0.02 vs 0, Δ 95% [-0.001, +0.04]" in lines
    assert "  ✗ dpo more than 0.02 above sft on repetition: 0.5 vs 0.47, Δ 95% [+0, +0.06]" in lines
    with pytest.raises(SystemExit, match=r"demo: 3 loop check\(s\) failed: sft not ahead of base on fact_recall; "):
        enforce_checks(real_checks(deltas), "real")


def test_real_demo_plan_keeps_the_gold_judge_out_of_training():
    plan = {stage.name: stage for stage in stages("real", ".")}
    assert list(plan) == [
        "SmolLM2 model",
        "data preparation",
        "preference split",
        "SFT",
        "annotation candidates",
        "app export",
        "proxy reward model",
        "gold reward model",
        "DPO",
        "PPO",
        "GRPO",
        "comparison",
    ]

    def command(name):
        stage = plan[name]
        return " ".join(stage.command() if callable(stage.command) else stage.command)

    assert "--train_data ./artifacts/data/preferences/proxy.jsonl" in command("proxy reward model")
    assert "--train_data ./artifacts/data/preferences/gold.jsonl" in command("gold reward model")
    assert "--train_data ./artifacts/data/preferences/proxy.jsonl" in command("DPO")
    for name in ("PPO", "GRPO"):
        trained = command(name)
        assert "--reward_model ./artifacts/reward/smollm2-proxy" in trained
        assert "--gold_reward_model ./artifacts/reward/smollm2-gold" in trained
        assert "smollm2-gold" not in trained.split("--gold_reward_model")[0]
    assert "configs/eval/smollm2.yaml" in command("comparison")
    for config in ("configs/sft/smollm2_lora.yaml", "configs/reward/smollm2.yaml", "configs/eval/smollm2.yaml"):
        assert (REPO_ROOT / config).is_file()
    eval_config = yaml.safe_load((REPO_ROOT / "configs/eval/smollm2.yaml").read_text())
    assert eval_config["reward_models"] == {
        "proxy": "artifacts/reward/smollm2-proxy",
        "gold": "artifacts/reward/smollm2-gold",
    }
    assert eval_config["independent_judges"] == ["gold"]


@pytest.mark.slow
@pytest.mark.learning
def test_fast_demo_runs_the_whole_loop(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.demo", "--scale", "fast", "--root", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((tmp_path / "artifacts" / "demo_summary.json").read_text())
    assert [s["stage"] for s in summary["stages"]] == [
        "tiny model",
        "data preparation",
        "SFT",
        "annotation candidates",
        "app export",
        "reward model",
        "DPO",
        "PPO",
        "GRPO",
        "comparison",
    ]
    assert summary["compute_totals"]["co2_kg"] > 0
    checks = {(c["model"], c["metric"]) for c in summary["checks"]}
    assert checks == {
        ("sft", "mcq_acc"),
        ("sft", "val_perplexity"),
        ("dpo", "proxy_score"),
        ("ppo", "proxy_score"),
        ("grpo", "proxy_score"),
    }
    assert "on proxy_score" in result.stdout
    report = (tmp_path / "artifacts" / "eval" / "tiny" / "report.md").read_text(encoding="utf-8")
    for name in ("base", "sft", "dpo", "ppo", "grpo"):
        assert f"| {name} |" in report
    results = json.loads((tmp_path / "artifacts" / "eval" / "tiny" / "results.json").read_text())
    assert results
    assert list((tmp_path / "artifacts" / "eval" / "tiny").glob("*.png"))
    assert (tmp_path / "runs" / "eval" / "ppo").is_dir() and (tmp_path / "runs" / "sft").is_dir()
    assert "Demo finished" in result.stdout and "make tensorboard" in result.stdout

    # `make round` on the demo's outputs: two agronomists vote in the app DB, then one round closes the loop
    db_url = f"sqlite:///{tmp_path / DEFAULT_DB_PATH}"
    service = AnnotationService.from_config(AppConfig(db_url=db_url, gold_share=0.0, swap_repeat_share=0.0))
    candidates_before = candidate_count(service)
    service.add_user("yonetici", "parola-123", role="admin")
    for name in ("ayse", "mehmet"):
        service.add_user(name, "parola-123")
        while (task := service.next_task(name)) is not None:
            longer = "a_better" if len(task.answer_a) >= len(task.answer_b) else "b_better"  # both agree
            service.submit_vote(name, VoteInput(task.assignment_id, longer))
    votes = service.export_rows("yonetici", "dpo")
    assert votes
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.round",
            "--root",
            str(tmp_path),
            "--scale",
            "fast",
            "--name",
            "r1",
            "--limit",
            "2",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = tmp_path / "artifacts" / "rounds" / "r1"
    export = out / "dpo_export.jsonl"
    assert len(export.read_text(encoding="utf-8").splitlines()) == len(votes)
    for stage in ("reward", "dpo"):  # seed preferences plus the app's votes, counted double
        resolved = yaml.safe_load((out / stage / "resolved_config.yaml").read_text(encoding="utf-8"))
        train_data = next(section["train_data"] for section in resolved.values() if "train_data" in section)
        assert train_data == ["data/preferences/train.jsonl", f"{export}=2.0"]
    round_results = json.loads((out / "eval" / "results.json").read_text(encoding="utf-8"))
    assert set(round_results["models"]) == {"sft", "dpo"} and "proxy_score" in round_results["models"]["dpo"]["metrics"]
    assert candidate_count(service) == candidates_before + 2  # the round's DPO model answered 2 prompts
    assert f"Round r1: {len(votes)} new preference pairs" in result.stdout


def candidate_count(service) -> int:
    with service.sessions() as session:
        return session.scalar(select(func.count(Candidate.id)))
