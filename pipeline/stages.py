"""Running a plan of stages as subprocesses, for the orchestrators (`pipeline.demo`, `pipeline.round`): each
stage is the same command a user runs by hand, printed before it runs, with its output in a log file; a plan stops
at the first failure and names the stage. While a stage runs, the progress bars it prints (Transformers' trainer,
the evaluation's per-model bars) are read from its output and shown on the plan's own line: step / total and ETA.
"""

from __future__ import annotations

import codecs
import json
import os
import re
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
# STAGE_THREADS=1 on a machine other jobs share: OpenMP threads that outnumber the free cores wait on each other
# at every parallel region, and a 2-thread stage beside another busy job ran ~10× slower here than a 1-thread one.
STAGE_THREADS = os.environ.get("STAGE_THREADS")
ACCELERATE = [str(BIN / "accelerate"), "launch", "--config_file", "configs/accelerate/cpu.yaml"]
if STAGE_THREADS:
    ACCELERATE += ["--num_cpu_threads_per_process", STAGE_THREADS]


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
        **({"OMP_NUM_THREADS": STAGE_THREADS} if STAGE_THREADS else {}),
    }
    summary = []
    bar = tqdm(plan, desc=title, unit="stage")
    for number, stage in enumerate(bar, start=1):
        command = stage.command() if callable(stage.command) else stage.command
        log = log_dir / f"{number:02d}-{stage.name.replace(' ', '_')}.log"
        tqdm.write(f"[{number}/{len(plan)}] {stage.name}: {shlex.join(command)}")
        start = time.perf_counter()
        returncode = run_logged(
            command,
            log,
            env,
            lambda progress, name=stage.name: bar.set_postfix_str(f"{name}: {progress}" if progress else name),
        )
        bar.set_postfix_str("")
        seconds = time.perf_counter() - start
        if returncode != 0:
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-25:]
            raise SystemExit(
                f"{title} stopped at stage '{stage.name}' (exit {returncode}); log: {log}\n" + "\n".join(tail)
            )
        compute = _compute(stage.outputs)
        summary.append({"stage": stage.name, "seconds": round(seconds, 1), "outputs": stage.outputs, **compute})
        extra = f", {compute['co2_kg'] * 1000:.3f} g CO2" if compute else ""
        tqdm.write(f"    ✓ {stage.name} in {seconds:.0f} s{extra} → {', '.join(stage.outputs)}")
    return summary


# A tqdm bar as printed: "desc:  40%|████      | 2/5 [01:00<01:30, 30.0s/it]" (desc optional).
_BAR = re.compile(r"(?:([^\r\n|]*?):\s*)?\d+%\|[^|]*\|\s*(\d+)/(\d+)\s*\[([0-9:]+)<([0-9:?]+)")


class ProgressReader:
    """Follows the tqdm bars in a stage's output: the unfinished ones, in the order they first appeared (an
    evaluation's outer "models" bar, then the current task's), as one short text such as
    `models 2/5 ETA 01:30 · open_qa 3/24 ETA 00:20`."""

    def __init__(self, shown: int = 2):
        self.bars: dict[str, tuple[int, int, str]] = {}
        self.shown = shown
        self.tail = ""

    def feed(self, text: str) -> str | None:
        """Read more output; the new progress text, or None when nothing changed."""
        text = self.tail + text
        cut = max(text.rfind("\r"), text.rfind("\n"))
        complete, self.tail = (text[: cut + 1], text[cut + 1 :]) if cut >= 0 else ("", text)
        changed = False
        for match in _BAR.finditer(complete):
            name = (match.group(1) or "").strip()
            self.bars[name] = (int(match.group(2)), int(match.group(3)), match.group(5))
            changed = True
        return self.text() if changed else None

    def text(self) -> str:
        running = [(name, *state) for name, state in self.bars.items() if state[0] < state[1]]
        return " · ".join(
            f"{name + ' ' if name else ''}{done}/{total} ETA {eta}" for name, done, total, eta in running[: self.shown]
        )


def run_logged(command: list[str], log: Path, env: dict, on_progress: Callable[[str], None]) -> int:
    """Run `command`, copying its output (stdout and stderr) to `log` as it comes and reporting its progress."""
    reader, decoder = ProgressReader(), codecs.getincrementaldecoder("utf-8")(errors="replace")
    with log.open("wb") as handle:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        while chunk := process.stdout.read1(65536):
            handle.write(chunk)
            handle.flush()
            progress = reader.feed(decoder.decode(chunk))
            if progress is not None:
                on_progress(progress)
        return process.wait()


def _compute(outputs: list[str]) -> dict:
    for output in outputs:
        path = REPO_ROOT / output / "compute.json"
        if path.is_file():
            report = json.loads(path.read_text())
            return {k: report[k] for k in ("device_hours", "energy_kwh", "co2_kg", "method")}
    return {}
