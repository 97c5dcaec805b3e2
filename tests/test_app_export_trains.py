"""The app's DPO and KTO exports feed rlhf/dpo.py, rlhf/kto.py and reward/train.py unchanged (no conversion step)."""

import pytest

from annotation_app import export
from annotation_app.config import AppConfig
from annotation_app.service import AnnotationService, VoteInput
from annotation_app.testing import seed_database


@pytest.mark.slow
def test_app_exports_train_dpo_kto_and_the_reward_model(tiny_model_dir, tmp_path, run_stage):
    config = AppConfig(
        db_url=f"sqlite:///{tmp_path / 'app.db'}", annotators_per_item=1, gold_share=0.0, swap_repeat_share=0.0
    )
    service = AnnotationService.from_config(config)
    seed_database(service, 6)
    service.add_user("ayse", "parola-123")
    for choice in ("a_much_better", "b_better", "a_better", "b_much_better", "a_better", "b_better"):
        task = service.next_task("ayse")
        service.submit_vote("ayse", VoteInput(task.assignment_id, choice=choice))
    dpo_path, pairs = export.export(service.sessions, "dpo", tmp_path / "dpo.jsonl", "")
    kto_path, rows = export.export(service.sessions, "kto", tmp_path / "kto.jsonl", "")
    assert pairs == 6 and rows == 12
    common = [
        "--model_name_or_path",
        str(tiny_model_dir),
        "--runs_dir",
        str(tmp_path / "runs"),
        "--max_steps",
        "2",
        "--per_device_train_batch_size",
        "2",
    ]
    run_stage(
        "rlhf/dpo.py",
        "--config",
        "configs/rlhf/dpo_tiny.yaml",
        "--train_data",
        str(dpo_path),
        "--eval_data",
        str(dpo_path),
        "--output_dir",
        str(tmp_path / "dpo"),
        *common,
    )
    run_stage(
        "rlhf/kto.py",
        "--config",
        "configs/rlhf/kto_tiny.yaml",
        "--train_data",
        str(kto_path),
        "--output_dir",
        str(tmp_path / "kto"),
        *common,
    )
    run_stage(
        "reward/train.py",
        "--config",
        "configs/reward/tiny.yaml",
        "--train_data",
        str(dpo_path),
        "--eval_data",
        str(dpo_path),
        "--output_dir",
        str(tmp_path / "rm"),
        *common,
    )
    for stage in ("dpo", "kto", "rm"):
        assert (tmp_path / stage / "model.safetensors").is_file()
