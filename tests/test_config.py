from dataclasses import dataclass, field

import pytest
from trl import SFTConfig

from shared.config import ConfigError, parse_config, save_resolved_config


@dataclass
class ScriptArgs:
    train_data: list[str] = field(default_factory=list)
    max_samples: int | None = None


def write(tmp_path, text):
    path = tmp_path / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_yaml_sets_defaults_and_cli_overrides(tmp_path):
    path = write(
        tmp_path,
        "train_data: [a.jsonl]\nmax_samples: 10\nlearning_rate: 0.001\nuse_cpu: true\nenv:\n  TARIM_TEST_VAR: evet\n",
    )
    script, training = parse_config(
        ScriptArgs, SFTConfig, args=["--config", path, "--max_samples", "5", "--output_dir", str(tmp_path)]
    )
    assert script.train_data == ["a.jsonl"]
    assert script.max_samples == 5
    assert training.learning_rate == 0.001
    import os

    assert os.environ["TARIM_TEST_VAR"] == "evet"


def test_unknown_yaml_key_names_key_file_and_line(tmp_path):
    path = write(tmp_path, "train_data: [a.jsonl]\nlearnin_rate: 0.1\n")
    with pytest.raises(ConfigError) as excinfo:
        parse_config(ScriptArgs, SFTConfig, args=["--config", path])
    message = str(excinfo.value)
    assert "learnin_rate" in message and path in message and ":2:" in message


def test_unknown_cli_flag_is_named(tmp_path):
    path = write(tmp_path, "train_data: [a.jsonl]\nuse_cpu: true\n")
    with pytest.raises(ConfigError, match="--max_sampels"):
        parse_config(ScriptArgs, SFTConfig, args=["--config", path, "--max_sampels", "3"])


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        parse_config(ScriptArgs, args=["--config", str(tmp_path / "nope.yaml")])


def test_resolved_config_is_saved(tmp_path):
    script = ScriptArgs(train_data=["x.jsonl"], max_samples=3)
    path = save_resolved_config(tmp_path, script)
    assert "x.jsonl" in path.read_text()
