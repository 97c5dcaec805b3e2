"""Test setup: offline env, markers, and one tiny model shared by the whole session."""

import os

for _name, _value in {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ[_name] = _value

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A <1M-parameter Llama with the project's tokenizer, built once per test session."""
    from shared.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-llama", size="tiny", seed=0)


def prompt_stage_args(config: str, model_dir, out, runs, prompts, **overrides) -> list[str]:
    """Arguments of an online-RL test run (rlhf/ppo.py, rlhf/grpo.py): the recipe `config` on `model_dir`, output and
    TensorBoard dirs, run name "test", the prompt file, no system prompt, then `overrides` (a list value gives one
    flag with several values)."""
    values = {
        "model_name_or_path": model_dir,
        "output_dir": out,
        "runs_dir": runs,
        "run_name": "test",
        "prompt_data": prompts,
        "system_prompt": "none",
    } | overrides
    args = ["--config", config]
    for key, value in values.items():
        args += [f"--{key}", *(map(str, value) if isinstance(value, list) else [str(value)])]
    return args


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_stage(script: str, *args: str, processes: int = 1, timeout: int | None = None, check: bool = True):
    """Run a stage script the way users do: `accelerate launch` in a subprocess, from the repo root.

    With processes > 1 this is real gloo DDP on CPU (the `--multi_gpu` + ACCELERATE_USE_CPU=1 route; a
    MULTI_CPU config or `--cpu --num_processes 2` silently runs one process). The time limit is pytest's per-test
    timeout (`--timeout`) unless one is given.
    """
    import subprocess
    import sys

    accelerate = str(Path(sys.executable).parent / "accelerate")
    # 2 threads for one process, 1 each for DDP; TEST_STAGE_THREADS=1 on a machine shared by many jobs, where
    # two-thread matmuls wait on each other's descheduled thread (measured 5.7x slower than one thread there).
    threads = os.environ.get("TEST_STAGE_THREADS", "1" if processes > 1 else "2")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": threads}
    if processes > 1:
        env["ACCELERATE_USE_CPU"] = "1"
        command = [
            accelerate,
            "launch",
            "--multi_gpu",
            "--num_processes",
            str(processes),
            "--main_process_port",
            str(free_port()),
            "--num_cpu_threads_per_process",
            "1",
        ]
    else:
        command = [
            accelerate,
            "launch",
            "--config_file",
            "configs/accelerate/cpu.yaml",
            "--num_cpu_threads_per_process",
            threads,
        ]
    result = subprocess.run(
        [*command, script, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{script} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
        )
    return result


@pytest.fixture(scope="session")
def run_stage():
    return launch_stage
