"""Every shipped recipe uses only keys its script knows (a typo would otherwise fail only on a GPU box)."""

import pytest
import yaml
from trl import DPOConfig, KTOConfig, ModelConfig, RewardConfig, SFTConfig, TrlParser

from reward.train import RewardScriptArguments
from sft.train import SFTScriptArguments
from shared.stage import PreferenceScriptArguments
from tests.conftest import REPO_ROOT

RECIPES = {  # folder or glob → the dataclasses its script parses (PPO/GRPO recipes: tests/test_ppo.py, test_grpo.py)
    "configs/sft/*.yaml": (SFTScriptArguments, SFTConfig, ModelConfig),
    "configs/reward/*.yaml": (RewardScriptArguments, RewardConfig, ModelConfig),
    "configs/rlhf/dpo_*.yaml": (PreferenceScriptArguments, DPOConfig, ModelConfig),
    "configs/rlhf/kto_*.yaml": (PreferenceScriptArguments, KTOConfig, ModelConfig),
}


@pytest.mark.parametrize("pattern", sorted(RECIPES))
def test_recipe_keys_are_known(pattern):
    known = {action.dest for action in TrlParser(RECIPES[pattern])._actions} | {"env"}
    files = sorted(REPO_ROOT.glob(pattern))
    assert files
    for path in files:
        unknown = set(yaml.safe_load(path.read_text(encoding="utf-8"))) - known
        assert not unknown, f"{path}: unknown keys {sorted(unknown)}"


def test_accelerate_configs_parse():
    for path in sorted((REPO_ROOT / "configs/accelerate").glob("*.yaml")):
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert config["distributed_type"] in {"NO", "MULTI_GPU", "DEEPSPEED", "FSDP"}, path
