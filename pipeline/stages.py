"""Running a plan of stages as subprocesses, for the orchestrators (`pipeline.demo`, `pipeline.round`): each
stage is the same command a user runs by hand, printed before it runs, with its output in a log file; a plan stops
at the first failure and names the stage."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ACCELERATE = [str(BIN / "accelerate"), "launch", "--config_file", "configs/accelerate/cpu.yaml"]


@dataclass
class Stage:
    name: str
    command: list[str] | Callable[[], list[str]]  # a callable is built when the stage starts (uses earlier outputs)
    outputs: list[str] = field(default_factory=list)


def jsonl_rows(path: str) -> int:
    file = REPO_ROOT / path
    return sum(1 for line in file.read_text(encoding="utf-8").splitlines() if line.strip()) if file.is_file() else 0


def with_app_export(seed: str, export: str, weight: float = 2.0) -> list[str]:
    """Seed preferences plus the app's DPO export when it has rows (agronomists' votes count double)."""
    return [seed, f"{export}={weight}"] if jsonl_rows(export) else [seed]


def run_stages(plan: list[Stage], log_dir: Path, title: str = "demo") -> list[dict]:
    """Run stages in order with a progress bar and one summary line each; stop at the first failure."""
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "TOKENIZERS_PARALLELISM": "false",
    }
    summary = []
    for number, stage in enumerate(tqdm(plan, desc=title, unit="stage"), start=1):
        command = stage.command() if callable(stage.command) else stage.command
        log = log_dir / f"{number:02d}-{stage.name.replace(' ', '_')}.log"
        tqdm.write(f"[{number}/{len(plan)}] {stage.name}: {shlex.join(command)}")
        start = time.perf_counter()
        with log.open("w", encoding="utf-8") as handle:
            result = subprocess.run(command, cwd=REPO_ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-25:]
            raise SystemExit(
                f"{title} stopped at stage '{stage.name}' (exit {result.returncode}); log: {log}\n" + "\n".join(tail)
            )
        compute = _compute(stage.outputs)
        summary.append({"stage": stage.name, "seconds": round(seconds, 1), "outputs": stage.outputs, **compute})
        extra = f", {compute['co2_kg'] * 1000:.3f} g CO2" if compute else ""
        tqdm.write(f"    ✓ {stage.name} in {seconds:.0f} s{extra} → {', '.join(stage.outputs)}")
    return summary


def _compute(outputs: list[str]) -> dict:
    for output in outputs:
        path = REPO_ROOT / output / "compute.json"
        if path.is_file():
            report = json.loads(path.read_text())
            return {k: report[k] for k in ("device_hours", "energy_kwh", "co2_kg", "method")}
    return {}
