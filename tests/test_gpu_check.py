"""bench/gpu_check.py: the prepared one-GPU check, run here with its tiny shape on CPU (same code path)."""

import json
import math
import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "bench"))
import gpu_check  # noqa: E402


def test_tokenizer_covers_the_llama3_vocabulary_id_for_id():
    tokenizer = gpu_check.build_tokenizer(gpu_check.LLAMA3_8B["vocab_size"])
    assert len(tokenizer) == 128_256
    # Llama 3's own special ids
    assert (tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id) == (128_000, 128_004, 128_009)
    assert tokenizer.convert_tokens_to_ids("<|start_header_id|>") == 128_006
    ids = [3, 4, 77, 65_000, 127_999]
    text = tokenizer.decode(ids)
    assert tokenizer(text).input_ids == ids  # synthetic texts tokenize to exactly the ids drawn
    words = gpu_check.Words(128_256)(50)
    assert len(tokenizer(words).input_ids) == 50 and max(tokenizer(words).input_ids) < 128_000
    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": words}], tokenize=True, add_generation_prompt=True, return_dict=True
    )["input_ids"]
    assert chat[0] == 128_000 and chat[-1] == 128_007 and tokenizer.unk_token_id not in chat


def test_bad_stage_names_and_a_missing_trl_fail_in_one_line(monkeypatch, capsys):
    with pytest.raises(SystemExit) as exit_info:
        gpu_check.main(["--tiny", "--stages", "sft_lora,rlhf"])
    assert exit_info.value.code == 2 and "unknown ['rlhf']" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "trl", None)  # as on a GPU machine without the carried wheels
    with pytest.raises(SystemExit) as exit_info:
        gpu_check.main(["--tiny"])
    message = str(exit_info.value.code)
    assert message.startswith("gpu_check: cannot import trl") and "docs/benchmarks.md" in message
    assert "\n" not in message


@pytest.mark.slow
def test_tiny_check_trains_every_stage_and_reports_json(tmp_path):
    out = tmp_path / "gpu_check.json"
    result = subprocess.run(
        [sys.executable, "bench/gpu_check.py", "--tiny", "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    report = json.loads(out.read_text())
    assert json.loads(result.stdout) == report  # stdout carries only the report
    assert report["shape"] == "tiny" and list(report["stages"]) == list(gpu_check.STAGES)
    for name, stage in report["stages"].items():
        if name == "sft_qlora" and not torch.cuda.is_available():
            assert "CUDA" in stage["skipped"]
            continue
        assert "error" not in stage, (name, stage)
        assert stage["tokens_per_s"] > 0 and stage["seconds"] > 0 and stage["tokens"] > 0, (name, stage)
        memory = stage.get("peak_memory_gib") or stage.get("peak_rss_mib_process")
        assert memory and memory > 0, (name, stage)
        assert stage["losses"] and all(math.isfinite(x) for x in stage["losses"]), (name, stage)
        assert stage["trainable_parameters"] > 0
    sizes = report["sizes"]
    # tokens per step as the recipes feed them: SFT rows of seq tokens (EOS included), reward and DPO pairs of
    # two seq // 2 sequences, i.e. TRL tokenized the synthetic texts to exactly the ids drawn
    for name in ("sft_lora", "reward", "dpo"):
        assert report["stages"][name]["tokens_per_step"] == sizes["batch"] * sizes["seq"], name
    ppo = report["stages"]["ppo"]
    assert len(ppo["losses"]) == sizes["ppo_steps"] and all(math.isfinite(x) for x in ppo["value_losses"])
    assert 0 < ppo["generated_tokens_per_s"] < ppo["tokens_per_s"]
