"""Helpers shared by the tests and the load benchmark: a seeded database and a real server in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path

import yaml

from annotation_app.config import AppConfig
from annotation_app.content import add_candidate, add_gold_item, build_items, upsert_prompt
from annotation_app.service import AnnotationService
from annotation_app.vocabulary import FLAG_TYPES

REPO_ROOT = Path(__file__).resolve().parent.parent
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
}
CROPS = ("buğday", "domates", "pamuk", "fındık", "zeytin")
REGIONS = ("Konya", "Antalya", "Şanlıurfa", "Ordu", "Aydın")


def prompt_row(k: int) -> dict:
    return {
        "id": f"p{k:04d}",
        "prompt": f"{CROPS[k % 5]} için {REGIONS[k % 5]} bölgesinde soru {k}: ne yapmalıyım?",
        "crop": CROPS[k % 5],
        "region": REGIONS[k % 5],
        "season": "ilkbahar",
        "category": "bitki_koruma",
    }


def seed_database(
    service: AnnotationService, n_prompts: int, models: tuple[str, ...] = ("model_x", "model_y"), n_gold: int = 0
) -> int:
    """`n_prompts` prompts with one canned answer per model, `n_gold` gold items; returns the item count."""
    with service.sessions.begin() as session:
        for k in range(n_prompts):
            prompt = upsert_prompt(session, prompt_row(k))
            for model in models:
                add_candidate(
                    session,
                    prompt,
                    model_name=model,
                    checkpoint=f"/ckpt/{model}",
                    sample_index=0,
                    text=f"{model} cevabı {k}: dekara 2 kg gübre, sulamayı sabah yapın.",
                )
        for g in range(n_gold):
            add_gold_item(
                session,
                {
                    **prompt_row(10_000 + g),
                    "gold_answer": f"Doğru cevap {g}.",
                    "rejected_answer": f"Hasattan bir gün önce bol ilaç atın {g}.",
                },
            )
        build_items(session, service.config.pairs_per_prompt, service.config.seed)
    return n_prompts + n_gold


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(config: AppConfig, path: Path) -> Path:
    path.write_text(yaml.safe_dump(asdict(config), allow_unicode=True), encoding="utf-8")
    return path


def start_server(
    config: AppConfig, workdir: Path, timeout: float = 60.0, command: tuple[str, ...] = ("-m", "annotation_app")
) -> tuple[subprocess.Popen, str]:
    """Start `python <command> --config <file>` (default: `python -m annotation_app`) for `config` on a free
    port; returns (process, base url) once it answers."""
    config.port = free_port()
    config_path = write_config(config, workdir / "app.yaml")
    env = {**os.environ, **OFFLINE_ENV, "PYTHONPATH": str(REPO_ROOT)}
    with open(workdir / "server.log", "ab") as log:  # the child keeps its own copy of the handle
        process = subprocess.Popen(
            [sys.executable, *command, "--config", str(config_path)],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{config.port}/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}; see {workdir / 'server.log'}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return process, url
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise TimeoutError(f"server did not answer within {timeout}s; see {workdir / 'server.log'}")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def submit_vote_args(
    assignment_id: int, choice: str = "a_better", *, comment: str = "", correction: str = "Düzeltilmiş cevap."
) -> list:
    """Positional arguments of the /submit_vote endpoint: a full vote (8 ratings, one critical flag on B, one
    correction); see `annotation_app.ui.RESET_VALUES` for the order."""
    ratings = [5, 4, 4, 5, 2, 1, 3, 3]  # A then B, in CRITERIA order
    flags = ["none"] * len(FLAG_TYPES) + [{"wrong_dose_unit": "critical"}.get(f, "none") for f in FLAG_TYPES]
    return [assignment_id, choice, *ratings, *flags, "B", correction, comment]


def login(url: str, username: str, password: str):
    from gradio_client import Client

    return Client(url, auth=(username, password), verbose=False, analytics_enabled=False)
