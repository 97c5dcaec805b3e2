"""`make demo DEMO_SCALE=fast`: the whole loop end to end on the <1M model, plus the stop-at-first-failure rule."""

import json
import subprocess
import sys

import pytest

from shared.demo import Stage, run_stages
from tests.conftest import REPO_ROOT


def test_demo_stops_at_the_first_failing_stage_and_names_it(tmp_path):
    plan = [Stage("ok", [sys.executable, "-c", "print('fine')"]),
            Stage("broken stage", [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]),
            Stage("never", [sys.executable, "-c", "open('never-ran', 'w')"])]  # fmt: skip
    with pytest.raises(SystemExit) as excinfo:
        run_stages(plan, tmp_path)
    message = str(excinfo.value)
    assert "stopped at stage 'broken stage' (exit 3)" in message and "boom" in message
    assert not (REPO_ROOT / "never-ran").exists()


@pytest.mark.slow
def test_fast_demo_runs_the_whole_loop(tmp_path):
    result = subprocess.run([sys.executable, "-m", "shared.demo", "--scale", "fast", "--root", str(tmp_path)],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=1200)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((tmp_path / "artifacts" / "demo_summary.json").read_text())
    assert [s["stage"] for s in summary["stages"]] == [
        "tiny model", "data preparation", "SFT", "annotation candidates", "app export", "reward model", "DPO",
        "PPO", "GRPO", "comparison"]  # fmt: skip
    assert summary["compute_totals"]["co2_kg"] > 0
    report = (tmp_path / "artifacts" / "eval" / "tiny" / "report.md").read_text(encoding="utf-8")
    for name in ("base", "sft", "dpo", "ppo", "grpo"):
        assert f"| {name} |" in report
    results = json.loads((tmp_path / "artifacts" / "eval" / "tiny" / "results.json").read_text())
    assert results
    assert list((tmp_path / "artifacts" / "eval" / "tiny").glob("*.png"))
    assert (tmp_path / "runs" / "eval" / "ppo").is_dir() and (tmp_path / "runs" / "sft").is_dir()
    assert "Demo finished" in result.stdout and "make tensorboard" in result.stdout
