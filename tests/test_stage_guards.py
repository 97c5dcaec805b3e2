"""What a stage does with bad set-ups before it trains: no usable rows, over-long pairs, a model that is not there,
a prompt too long for the model, a config error — each one line, each counted; and bf16 turned off on CPUs
without it (GRPO crashed there)."""

import json

import pytest
from transformers import AutoTokenizer
from trl import GRPOConfig, ModelConfig

from annotation_app.generate import refuse_long_prompts
from shared import modeling
from shared.config import run_script
from shared.data import DataError, Rejects, reject_overlong, require_usable_rows
from shared.generation import PromptTooLong, generate_answers, prompt_lengths, prompt_token_limit
from shared.modeling import ModelPathError, check_model_path, check_model_paths, resolve_precision


def test_zero_usable_rows_stop_with_one_line_after_writing_the_rejects(tmp_path):
    rejects = Rejects()
    rejects.add({"prompt": "p", "_origin": {"source": "a.jsonl", "line": 3}}, "validate", "chosen: empty")
    rejects.add({"prompt": "q"}, "policy", "tie or both bad")
    path = tmp_path / "out" / "rejects.jsonl"
    with pytest.raises(DataError) as excinfo:
        require_usable_rows([], what="preference", sources=["a.jsonl", "b.csv=2"], rejects=rejects, rejects_path=path)
    message = str(excinfo.value)
    assert message == (
        f"0 usable preference rows from a.jsonl, b.csv=2: 2 rejected (1 at validate, 1 at policy); reasons in {path}"
    )
    assert len(path.read_text(encoding="utf-8").splitlines()) == 2  # written before stopping
    with pytest.raises(DataError, match="0 usable sft rows from empty.jsonl: no rows in them"):
        require_usable_rows([], what="sft", sources=["empty.jsonl"], rejects=Rejects())
    require_usable_rows([{"prompt": "p"}], what="sft", sources=["x"], rejects=Rejects())  # rows: no error


def test_overlong_pairs_go_to_rejects_counted(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    short = {"prompt": "Buğday ne zaman ekilir?", "chosen": "Ekimde.", "rejected": "Bilmem."}
    long = {**short, "rejected": "Çok uzun bir yanıt " * 40}
    unpaired = {"prompt": "Soru?", "completion": "Kısa.", "label": True}
    rejects = Rejects()
    kept = reject_overlong([short, long, unpaired], tokenizer, 64, rejects)
    assert kept == [short, unpaired]
    assert [r["step"] for r in rejects.rows] == ["max_length"] and "> max_length 64" in rejects.rows[0]["reason"]
    assert reject_overlong([long], tokenizer, None, Rejects()) == [long]  # no limit: nothing dropped
    conversational = {
        "prompt": [{"role": "user", "content": long["prompt"]}],
        "chosen": [{"role": "assistant", "content": long["chosen"]}],
        "rejected": [{"role": "assistant", "content": long["rejected"]}],
    }
    assert reject_overlong([conversational], tokenizer, 64, Rejects()) == []  # TRL's form is measured the same


def test_a_missing_local_model_is_one_line_naming_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no artifacts/ here, as in a fresh clone before `make tiny-model`
    with pytest.raises(
        ModelPathError, match=r"^model_name_or_path: artifacts/tiny-llama not found — build it with `make tiny-model`$"
    ):
        check_model_path("artifacts/tiny-llama")
    with pytest.raises(ModelPathError, match="make smollm2"):
        check_model_path("artifacts/smollm2-135m/")
    with pytest.raises(
        ModelPathError, match=r"reward_model: artifacts/reward/tiny not found — train it first with reward/train.py"
    ):
        check_model_path("artifacts/reward/tiny", "reward_model")
    with pytest.raises(ModelPathError, match="Hub is offline"):
        check_model_path("meta-llama/Olmayan-Model-8B")  # HF_HUB_OFFLINE=1 in tests; not in the cache
    (tmp_path / "here").mkdir()
    check_model_path(str(tmp_path / "here"))


def test_model_paths_checked_in_every_config_but_unused_or_none_skipped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    class Script:
        reward_model = "artifacts/reward/tiny"
        reward_terms = ["target_word:ve=1.0"]  # the reward model is not used: not checked
        value_model = "none"

    check_model_paths(Script(), ModelConfig(model_name_or_path=str(tmp_path)))
    Script.reward_terms = ["reward_model=1.0"]
    with pytest.raises(ModelPathError, match="reward_model: artifacts/reward/tiny"):
        check_model_paths(Script(), ModelConfig(model_name_or_path=str(tmp_path)))


def test_run_script_prints_config_data_and_model_errors_as_one_line(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("model_name_or_path: artifacts/yok\nlearning_rate: [1\n", encoding="utf-8")

    def main(*_):
        raise AssertionError("main must not run")

    with pytest.raises(SystemExit, match=rf"^error: {config}:\d+: not valid YAML"):
        run_script(main, ModelConfig, args=["--config", str(config)])
    config.write_text("model_name_or_path: artifacts/yok\n", encoding="utf-8")
    with pytest.raises(SystemExit, match=r"^error: model_name_or_path: artifacts/yok not found"):
        run_script(main, ModelConfig, args=["--config", str(config)])

    def failing_main(model_args):
        raise DataError("data.jsonl:4: chosen: empty")

    with pytest.raises(SystemExit, match=r"^error: data.jsonl:4: chosen: empty$"):
        run_script(failing_main, ModelConfig, args=["--model_name_or_path", str(tmp_path)])


def test_bf16_turned_off_in_place_on_a_cpu_without_it(tmp_path, monkeypatch):
    # Before: dataclasses.replace re-ran GRPOConfig.__post_init__ → "generation_batch_size and steps_per_generation
    # can not be both configured" on every CPU without bf16 (ONEDNN_MAX_CPU_ISA=AVX2): GRPO and the demo failed.
    monkeypatch.setattr(modeling, "cpu_supports_bf16", lambda: False)
    args = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=True, generation_batch_size=16, num_generations=4)
    resolved = resolve_precision(args)
    assert resolved.bf16 is False and resolved.mixed_precision == "no" and resolved.generation_batch_size == 16


def test_prompts_too_long_for_the_model_are_refused_counted(tiny_model_dir, tmp_path):
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(tiny_model_dir)
    assert prompt_token_limit(config, 96) == config.max_position_embeddings - 96
    assert prompt_token_limit(config, 96, max_prompt_tokens=100) == 100
    rows = [{"id": "kisa", "prompt": "Buğday ne zaman ekilir?"}, {"id": "uzun", "prompt": "buğday tarlası " * 3000}]
    kept, refused = refuse_long_prompts(rows, [str(tiny_model_dir)], 96, None)
    assert [r["id"] for r in kept] == ["kisa"]
    assert refused[0]["id"] == "uzun" and refused[0]["tokens"] > refused[0]["limit"] == 2048 - 96
    model, tokenizer = (
        AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        AutoTokenizer.from_pretrained(tiny_model_dir),
    )
    lengths = prompt_lengths(tokenizer, [rows[0]["prompt"], "Ne?"])
    assert lengths[0] > lengths[1]
    with pytest.raises(PromptTooLong, match=rf"1 prompt\(s\) longer than {lengths[1]} tokens.*prompt 0, has"):
        generate_answers(model, tokenizer, [rows[0]["prompt"], "Ne?"], max_prompt_tokens=lengths[1])


@pytest.mark.slow
def test_candidate_generation_never_stores_a_prompt_too_long_for_the_model(tiny_model_dir, tmp_path, capsys):
    # Before: a 200 KB prompt was stored and still generating after 90 s.
    from annotation_app import generate

    prompts = tmp_path / "prompts.jsonl"
    rows = [{"id": "kisa", "prompt": "Buğday ne zaman ekilir?"}, {"id": "uzun", "prompt": "Buğday? " * 25_000}]
    prompts.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'app.db'}"
    generate.main(
        ["--model", str(tiny_model_dir), "--prompts", str(prompts), "--n", "1", "--max-new-tokens", "4", "--db", db]
    )
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["prompts"] == 1 and summary["refused_prompts"] == 1
    assert "prompt 'uzun' refused" in captured.err and "not stored" in captured.err


def run_script_from(cwd, script: str, *args: str):
    """A stage script run from `cwd` (absolute paths to the repo): the set-up a new user has right after cloning."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    return subprocess.run(
        [sys.executable, str(REPO_ROOT / script), *map(str, args)],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_a_stage_before_make_tiny_model_says_how_to_build_it(tmp_path):
    # Before: huggingface_hub's LocalEntryNotFoundError traceback ("outgoing traffic has been disabled").
    from tests.conftest import REPO_ROOT

    result = run_script_from(tmp_path, "sft/train.py", "--config", REPO_ROOT / "configs/sft/tiny.yaml")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "error: model_name_or_path: artifacts/tiny-llama not found — build it with `make tiny-model`"
    )
    assert "Traceback" not in result.stderr


BAD_SFT = {"messages": [{"role": "user", "content": "Soru?"}, {"role": "assistant", "content": ""}]}
BAD_PAIR = {"prompt": "Soru?", "chosen": "Aynı.", "rejected": "Aynı."}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "config", "row", "what"),
    [
        ("sft/train.py", "configs/sft/tiny.yaml", BAD_SFT, "sft"),
        ("reward/train.py", "configs/reward/tiny.yaml", BAD_PAIR, "preference"),
        ("rlhf/dpo.py", "configs/rlhf/dpo_tiny.yaml", BAD_PAIR, "preference"),
    ],
)
def test_training_on_zero_usable_rows_stops_before_the_model_with_one_line(
    tiny_model_dir, tmp_path, script, config, row, what
):
    # Before: a bare StopIteration from inside TRL, and the rejects (the reasons) were never written.
    from tests.conftest import REPO_ROOT

    data = tmp_path / "rows.jsonl"
    data.write_text((json.dumps(row, ensure_ascii=False) + "\n") * 3, encoding="utf-8")
    out = tmp_path / "out"
    result = run_script_from(
        REPO_ROOT,
        script,
        *("--config", config, "--model_name_or_path", tiny_model_dir, "--output_dir", out),
        *("--train_data", data, "--eval_data", data, "--on_invalid", "skip", "--runs_dir", tmp_path / "runs"),
    )
    assert result.returncode != 0 and "StopIteration" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: 0 usable {what} rows from {data}: ") and f"reasons in {out}/rejects.jsonl" in last
    assert len((out / "rejects.jsonl").read_text(encoding="utf-8").splitlines()) >= 3
    assert not (out / "model.safetensors").exists()
