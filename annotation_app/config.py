"""App configuration: a YAML file mapped onto `AppConfig`; unknown keys fail, naming the key and file."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT_CONFIG_PATH = Path("configs/annotation/app.yaml")
# The one database every command uses unless told otherwise: the app, `users`, `generate`, `export`, `make app`,
# `make demo` and `make round` (relative to the repository root, where they run).
DEFAULT_DB_PATH = "artifacts/annotation/annotation.db"
DEFAULT_DB_URL = f"sqlite:///{DEFAULT_DB_PATH}"


@dataclass
class AppConfig:
    db_url: str = DEFAULT_DB_URL
    prompts_file: str = "data/prompts/annotation.jsonl"
    annotators_per_item: int = 2  # k: distinct annotators per (non-gold) item
    gold_share: float = 0.1  # probability that the next task is a hidden gold item
    swap_repeat_share: float = 0.1  # probability that the next task re-shows a done item, sides swapped
    repeat_min_gap: int = 3  # a repeat only comes after this many later votes
    pairs_per_prompt: int = 1  # candidate pairs made per prompt (cross-model pairs first)
    max_comment_chars: int = 2000
    max_correction_chars: int = 8000
    system_prompt: str = ""  # system message put in SFT exports built from corrections
    reward_model: str | None = None  # active learning: reward model path (optional)
    bootstrap_samples: int = 200  # win-rate confidence intervals
    seed: int = 0
    host: str = "127.0.0.1"
    port: int = 7860
    concurrency_limit: int = 8  # Gradio queue: concurrent runs per event


def load_config(path: str | Path | None = None, **overrides) -> AppConfig:
    """Read `path` (YAML) into an AppConfig; keyword overrides win over the file (None values ignored)."""
    values: dict = {}
    if path is not None:
        values = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        known = {f.name for f in dataclasses.fields(AppConfig)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown} in {path}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    return AppConfig(**values)


def add_config_arguments(parser) -> None:
    """The `--config` / `--db` pair every CLI of the app takes."""
    parser.add_argument("--config", default=None, help="YAML config (default: configs/annotation/app.yaml if present)")
    parser.add_argument(
        "--db", default=None, help=f"SQLAlchemy URL; overrides db_url from the config (default: {DEFAULT_DB_URL})"
    )


def config_from_args(args) -> AppConfig:
    path = args.config
    if path is None and DEFAULT_CONFIG_PATH.exists():
        path = DEFAULT_CONFIG_PATH
    return load_config(path, db_url=args.db)
