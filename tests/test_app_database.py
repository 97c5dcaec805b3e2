"""One database for every app command: the app, `users`, `generate`, `export`, `make app`, `make demo`, `make round`."""

import argparse
import subprocess

from annotation_app.config import DEFAULT_DB_PATH, DEFAULT_DB_URL, AppConfig, config_from_args, load_config
from pipeline.demo import stages
from tests.conftest import REPO_ROOT


def test_every_command_defaults_to_the_same_database():
    assert AppConfig().db_url == DEFAULT_DB_URL == f"sqlite:///{DEFAULT_DB_PATH}"
    assert load_config(REPO_ROOT / "configs/annotation/app.yaml").db_url == DEFAULT_DB_URL  # the YAML keeps it
    # users, generate and export read their database through config_from_args (--config / --db)
    assert config_from_args(argparse.Namespace(config=None, db=None)).db_url == DEFAULT_DB_URL
    assert config_from_args(argparse.Namespace(config=None, db="sqlite:///x.db")).db_url == "sqlite:///x.db"

    plan = {stage.name: stage.command for stage in stages("fast", "ROOT")}
    for name in ("annotation candidates", "app export"):
        assert f"sqlite:///ROOT/{DEFAULT_DB_PATH}" in plan[name], name
    assert "data/prompts/annotation_gold.jsonl" in plan["annotation candidates"]  # gold items for the admin view

    make = subprocess.run(["make", "-n", "app"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    app_lines = [line for line in make.splitlines() if "annotation_app" in line]
    assert len(app_lines) == 2 and not any("--db" in line for line in app_lines)
