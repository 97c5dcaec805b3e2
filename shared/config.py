"""Config parsing for every entry script: YAML defaults (`--config`), CLI flags on top.

Built on TRL's `TrlParser` (which also applies an `env:` mapping from the YAML). What we add: an unknown key
fails with a message naming the key and where it came from (the YAML file and its line, or the command line),
instead of a generic list.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from trl import TrlParser


class ConfigError(ValueError):
    """A config problem, with the key and the file (or "command line") it came from."""


def _yaml_key_lines(path: Path) -> dict[str, int]:
    """Top-level key → 1-based line number in the YAML file."""
    node = yaml.compose(path.read_text(encoding="utf-8"))
    if node is None or not isinstance(node, yaml.MappingNode):
        return {}
    return {key.value: key.start_mark.line + 1 for key, _ in node.value}


def _config_path(args: Sequence[str]) -> Path | None:
    if "--config" not in args:
        return None
    index = list(args).index("--config")
    if index + 1 >= len(args):
        raise ConfigError("--config needs a path to a YAML file")
    path = Path(args[index + 1])
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    return path


def _known_keys(parser: TrlParser) -> set[str]:
    return {action.dest for action in parser._actions}


def parse_config(*dataclass_types: type, args: Sequence[str] | None = None) -> tuple[Any, ...]:
    """Parse `--config file.yaml` plus CLI overrides into one instance per dataclass type.

    Unknown keys raise `ConfigError` naming the key and the file (with line) or the command line.
    """
    args = list(sys.argv[1:] if args is None else args)
    parser = TrlParser(dataclass_types)
    path = _config_path(args)
    if path is not None:
        try:
            config = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
        if not isinstance(config, dict):
            raise ConfigError(f"{path}: the config must be a YAML mapping of key: value")
        known = _known_keys(parser) | {"env"}
        lines = _yaml_key_lines(path)
        for key in config:
            if key not in known:
                raise ConfigError(
                    f"{path}:{lines.get(key, '?')}: unknown key '{key}' "
                    f"(not a field of {', '.join(t.__name__ for t in dataclass_types)})"
                )
    try:
        parsed = parser.parse_args_and_config(args=args, return_remaining_strings=True)
    except ValueError as exc:  # a value the config classes refuse (their __post_init__ checks)
        raise ConfigError(f"{path or 'command line'}: {exc}") from None
    *instances, remaining = parsed
    if remaining:
        flags = [item for item in remaining if item.startswith("--")] or remaining
        raise ConfigError(f"command line: unknown argument '{flags[0]}' (config file: {path or 'none'})")
    return tuple(instances)


def optional_value(value: str | None) -> str | None:
    """`--reward_model none` (or null / empty) on the command line means no value."""
    return None if value is None or value.strip().lower() in {"", "none", "null"} else value


def run_script(main: Callable[..., Any], *dataclass_types: type, args: Sequence[str] | None = None) -> Any:
    """The `__main__` of every stage script: parse the configs, check the model paths, run `main`. A config, data or
    model-path problem ends the run with one line (`error: file:line: field: reason`) and exit status 1."""
    from shared.data import DataError
    from shared.modeling import ModelPathError, check_model_paths

    try:
        configs = parse_config(*dataclass_types, args=args)
        check_model_paths(*configs)
        return main(*configs)
    except (ConfigError, DataError, ModelPathError) as exc:
        raise SystemExit(f"error: {exc}") from None


def to_dict(*configs: Any) -> dict[str, Any]:
    """Resolved configs as one plain dict (for saving next to a model and for model cards)."""
    merged: dict[str, Any] = {}
    for config in configs:
        if hasattr(config, "to_dict"):
            values = config.to_dict()
        elif dataclasses.is_dataclass(config):
            values = dataclasses.asdict(config)
        else:
            values = dict(vars(config))
        merged[type(config).__name__] = values
    return merged


def save_resolved_config(output_dir: str | Path, *configs: Any) -> Path:
    """Write every resolved config to `resolved_config.yaml` in the output directory."""
    path = Path(output_dir) / "resolved_config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(to_dict(*configs), allow_unicode=True, sort_keys=False, default_flow_style=False))
    return path
