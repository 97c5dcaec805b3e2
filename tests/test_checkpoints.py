import json

import pytest

from shared.checkpoints import PPO_FILES, is_complete, latest_complete_checkpoint, resolve_resume


def make_checkpoint(root, step, *, state=True, weights=True, truncated=False):
    folder = root / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    if state:
        (folder / "trainer_state.json").write_text("" if truncated else json.dumps({"global_step": step}))
    if weights:
        (folder / "model.safetensors").write_bytes(b"x")
    return folder


def test_newest_complete_checkpoint_wins_over_interrupted_ones(tmp_path):
    make_checkpoint(tmp_path, 4)
    good = make_checkpoint(tmp_path, 8)
    make_checkpoint(tmp_path, 12, truncated=True)  # killed while writing the state
    make_checkpoint(tmp_path, 16, state=False)  # killed before the state
    make_checkpoint(tmp_path, 20, weights=False)  # killed before the weights
    assert latest_complete_checkpoint(tmp_path) == str(good)
    assert resolve_resume("true", tmp_path) == str(good)
    assert resolve_resume("false", tmp_path) is None and resolve_resume(None, tmp_path) is None
    assert resolve_resume("some/path", tmp_path) == "some/path"


def test_resume_true_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="no complete checkpoint"):
        resolve_resume("true", tmp_path)


def test_ppo_checkpoints_are_complete_only_with_every_ppo_file(tmp_path):
    """Our PPO loop saves no model.safetensors but policy/value trainable weights and both optimizers."""
    ppo = make_checkpoint(tmp_path, 3, weights=False)
    for name in PPO_FILES:
        assert not is_complete(ppo), name
        (ppo / name).write_bytes(b"x")
    assert is_complete(ppo)
    make_checkpoint(tmp_path, 6, weights=False)  # killed after the state, before the PPO files
    assert resolve_resume("latest", tmp_path) == str(ppo)
