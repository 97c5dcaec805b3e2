"""Every shipped recipe uses only keys its script knows (a typo would otherwise fail only on a GPU box)."""

import pytest
import yaml
from trl import ModelConfig, RewardConfig, SFTConfig, TrlParser

from reward.train import RewardScriptArguments
from sft.train import SFTScriptArguments
from tests.conftest import REPO_ROOT

RECIPES = {
    "configs/sft": (SFTScriptArguments, SFTConfig, ModelConfig),
    "configs/reward": (RewardScriptArguments, RewardConfig, ModelConfig),
}


@pytest.mark.parametrize("folder", sorted(RECIPES))
def test_recipe_keys_are_known(folder):
    known = {action.dest for action in TrlParser(RECIPES[folder])._actions} | {"env"}
    files = sorted((REPO_ROOT / folder).glob("*.yaml"))
    assert files
    for path in files:
        unknown = set(yaml.safe_load(path.read_text(encoding="utf-8"))) - known
        assert not unknown, f"{path}: unknown keys {sorted(unknown)}"


def test_accelerate_configs_parse():
    for path in sorted((REPO_ROOT / "configs/accelerate").glob("*.yaml")):
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert config["distributed_type"] in {"NO", "MULTI_GPU", "DEEPSPEED", "FSDP"}, path
