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


VLLM_RECIPES = ["configs/rlhf/grpo_llama3_8b_vllm_colocate.yaml", "configs/rlhf/grpo_llama3_8b_vllm_server.yaml"]


@pytest.mark.parametrize("name", VLLM_RECIPES)
def test_vllm_grpo_recipes_parse_into_trl_1_16_configs(name, tmp_path):
    from trl import GRPOConfig

    from rlhf.grpo import GRPOScriptArguments
    from shared.config import parse_config

    # Parsed exactly as rlhf/grpo.py parses it (GRPOConfig validates the batch shape); only the CPU overrides differ.
    script_args, args, model_args = parse_config(
        GRPOScriptArguments,
        GRPOConfig,
        ModelConfig,
        args=["--config", name, "--output_dir", str(tmp_path), "--bf16", "false", "--use_cpu", "true"],
    )
    assert args.use_vllm and args.vllm_mode == name.rsplit("_", 1)[1].removesuffix(".yaml")
    assert model_args.use_peft and args.beta > 0  # the reference is the adapter-disabled policy
    for processes in (1, 2, 3, 4, 6, 8):  # the GPU counts the comments promise
        assert args.generation_batch_size % (args.per_device_train_batch_size * processes) == 0, processes
    assert args.generation_batch_size % args.num_generations == 0
    if args.vllm_mode == "colocate":
        assert 0 < args.vllm_gpu_memory_utilization < 0.5 and args.vllm_max_model_length > args.max_completion_length


def test_vllm_server_commands_match_the_recipe():
    """The `trl vllm-serve` lines (recipe header and README) parse with TRL's own parser and serve what the
    recipe trains: the same model, on the recipe's port, with room for the completions."""
    import shlex

    from trl.scripts.vllm_serve import make_parser

    recipe_path = REPO_ROOT / "configs/rlhf/grpo_llama3_8b_vllm_server.yaml"
    recipe = yaml.safe_load(recipe_path.read_text(encoding="utf-8"))
    lines = [
        line.split("trl vllm-serve", 1)[1]
        for path in (recipe_path, REPO_ROOT / "README.md")
        for line in path.read_text(encoding="utf-8").splitlines()
        if "trl vllm-serve --model" in line
    ]
    assert len(lines) >= 2
    for line in lines:
        served, extra = make_parser().parse_args_and_config(
            args=shlex.split(line.split("#", 1)[0]), return_remaining_strings=True
        )
        assert not extra, line
        assert served.model == recipe["model_name_or_path"] and served.port == recipe["vllm_server_port"], line
        assert served.max_model_len > recipe["max_completion_length"], line


def test_gpu_extra_pins_a_vllm_that_trl_supports():
    """The `gpu` extra's vLLM lies in the range the installed TRL accepts (trl/import_utils.py). vLLM also pins
    torch and caps transformers: 0.30.0 wants torch==2.13.0 and transformers>=5.10.4, while 0.31.0 wants
    transformers<5.18 — so a change of our torch/transformers pins must re-check the vLLM pin."""
    import inspect
    import re
    import tomllib

    from packaging.requirements import Requirement
    from packaging.version import Version
    from trl import import_utils

    low, high = re.search(
        r'Version\("([\d.]+)"\) <= _vllm_base_version <= Version\("([\d.]+)"\)',
        inspect.getsource(import_utils.is_vllm_available),
    ).groups()
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = {Requirement(r).name: str(Requirement(r).specifier) for r in project["dependencies"]}
    (vllm,) = [Requirement(r) for r in project["optional-dependencies"]["gpu"] if Requirement(r).name == "vllm"]
    (version,) = [Version(s.version) for s in vllm.specifier if s.operator == "=="]
    assert Version(low) <= version <= Version(high), f"vllm {version} outside TRL's {low}-{high}"
    assert (pins["torch"], pins["transformers"]) == ("==2.13.0", "==5.24.0"), "re-check the vllm pin's requirements"
