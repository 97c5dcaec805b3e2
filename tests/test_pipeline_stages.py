"""The orchestrators' stage runner: output copied to the log, progress read from the stage's tqdm bars."""

import sys

from pipeline.stages import ProgressReader, run_logged


def test_progress_reader_follows_unfinished_bars_in_first_seen_order():
    reader = ProgressReader()
    assert reader.feed("Tokenizing: 100%|██████████| 2160/2160 [00:01<00:00, 1500it/s]\n") == ""
    assert reader.feed("models:   0%|          | 0/5 [00:00<?, ?it/s]\r") == "models 0/5 ETA ?"
    # a bar split across two reads is only taken once its line is complete
    assert reader.feed("open_qa:  12%|█▎        | 3/24 [00:05") is None
    assert reader.feed("<00:35,  1.7s/it]\r") == "models 0/5 ETA ? · open_qa 3/24 ETA 00:35"
    assert reader.feed(
        "open_qa: 100%|██████████| 24/24 [00:40<00:00]\rmodels:  20%|██        | 1/5 [00:45<03:00, 45.0s/it]\r"
    ) == ("models 1/5 ETA 03:00")


def test_progress_reader_reads_a_trainer_bar_without_description():
    reader = ProgressReader()
    assert reader.feed(" 27%|██▋       | 27/100 [02:43<08:12,  6.74s/it]\r") == "27/100 ETA 08:12"
    assert reader.feed("{'loss': 6.1, 'grad_norm': 1.2}\n") is None


def test_run_logged_copies_output_and_reports_progress(tmp_path):
    script = (
        "import sys, time\n"
        "from tqdm import tqdm\n"
        "print('başladı: ğüşıöç', flush=True)\n"
        "for _ in tqdm(range(3), desc='adım', mininterval=0):\n"
        "    time.sleep(0.05)\n"
        "sys.exit(3)\n"
    )
    seen: list[str] = []
    log = tmp_path / "stage.log"
    returncode = run_logged([sys.executable, "-c", script], log, env=None, on_progress=seen.append)
    assert returncode == 3
    text = log.read_text(encoding="utf-8")
    assert "başladı: ğüşıöç" in text and "3/3" in text
    assert any(progress.startswith("adım 1/3 ETA") for progress in seen), seen
