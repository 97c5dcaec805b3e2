"""Several machines: the shipped multi-node accelerate configs, and two "machines" on one host that train together.

Each "machine" is its own `accelerate launch` (as on a real cluster, one per node) with the shipped
`configs/accelerate/multi_node.yaml`, `--num_machines 2 --machine_rank 0|1 --main_process_ip 127.0.0.1`, on CPU
over gloo (ACCELERATE_USE_CPU=1). The ranks report what the process group itself says (not the flags).
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT, free_port
from tests.test_sft import SHORT_DDP_RUN, sft_args

MULTI_NODE_CONFIGS = ["configs/accelerate/multi_node.yaml", "configs/accelerate/deepspeed_zero3_multi_node.yaml"]


@pytest.mark.parametrize("name", MULTI_NODE_CONFIGS)
def test_multi_node_configs_name_every_per_node_setting(name):
    text = (REPO_ROOT / name).read_text(encoding="utf-8")
    config = yaml.safe_load(text)
    assert config["num_machines"] > 1 and config["num_processes"] % config["num_machines"] == 0
    assert config["machine_rank"] == 0 and config["main_process_ip"] and config["main_process_port"]
    for flag in ("--machine_rank", "--main_process_ip", "--main_process_port", "--num_processes"):
        assert flag in text, f"{name}: the comments must say how to set {flag} per node"
    if config["distributed_type"] == "DEEPSPEED":
        # accelerate starts torchrun on each node itself (no pdsh/ssh hostfile): what `srun accelerate launch` needs
        assert config["deepspeed_config"]["deepspeed_multinode_launcher"] == "standard"
        assert config["deepspeed_config"]["zero_stage"] == 3


def launch_machine(machine_rank: int, port: int, script_args: list[str]) -> subprocess.Popen:
    accelerate = str(Path(sys.executable).parent / "accelerate")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "1"}
    command = [
        accelerate,
        "launch",
        "--config_file",
        "configs/accelerate/multi_node.yaml",
        "--num_machines",
        "2",
        "--num_processes",
        "2",  # in all, across both machines: one per machine
        "--machine_rank",
        str(machine_rank),
        "--main_process_ip",
        "127.0.0.1",
        "--main_process_port",
        str(port),
        "--mixed_precision",
        "no",
        "--num_cpu_threads_per_process",
        "1",
        "sft/train.py",
        *script_args,
    ]
    return subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so a hung launcher and its workers can be killed together
    )


@pytest.mark.slow
def test_two_machines_on_one_host_train_in_one_process_group(tiny_model_dir, tmp_path):
    out = tmp_path / "two_machines"
    script_args = sft_args(tiny_model_dir, out, tmp_path / "runs", **SHORT_DDP_RUN)
    port = free_port()
    machines = [launch_machine(rank, port, script_args) for rank in (0, 1)]
    logs = []
    try:
        for machine in machines:
            logs.append(machine.communicate(timeout=600)[0])
    finally:
        for machine in machines:
            if machine.poll() is None:
                os.killpg(machine.pid, signal.SIGKILL)
                machine.wait()
    for rank, (machine, log) in enumerate(zip(machines, logs)):
        assert machine.returncode == 0, f"machine {rank} failed ({machine.returncode}):\n{log[-4000:]}"

    reports = sorted(
        (json.loads(path.read_text()) for path in (out / "ranks").glob("rank*.json")), key=lambda r: r["rank"]
    )
    assert [r["rank"] for r in reports] == [0, 1]
    # One process group of two, seen from inside each process; each rank on its own "machine".
    assert [r["world_size"] for r in reports] == [2, 2] and all(r["backend"] == "gloo" for r in reports)
    assert [r["machine_rank"] for r in reports] == [0, 1] and [r["local_rank"] for r in reports] == [0, 0]
    assert all(r["optimizer_steps"] == 6 and r["global_step"] == 6 for r in reports)
    # DDP averaged the gradients of the two machines' different batches: the replicas stayed identical.
    assert reports[0]["trainable_checksum"] == pytest.approx(reports[1]["trainable_checksum"], rel=1e-6)
