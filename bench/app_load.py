"""Load benchmark of the annotation app: N concurrent annotators submitting votes.

Measures submit latency (p50/p95) and votes/s against a real server on 127.0.0.1 (gradio_client, one client and
thread per annotator), and the same work in-process at the service layer (submit_vote + next_task + progress,
what the /submit_vote endpoint does) as the baseline, in the same run. Bounded by --votes-per-client and
--time-limit. Prints JSON.

    python bench/app_load.py [--clients 20] [--votes-per-client 10] [--time-limit 120]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
for _name, _value in {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "GRADIO_ANALYTICS_ENABLED": "False"}.items():
    os.environ.setdefault(_name, _value)

from annotation_app.config import AppConfig  # noqa: E402
from annotation_app.service import AnnotationService, VoteInput  # noqa: E402
from annotation_app.testing import login, seed_database, start_server, stop_server, submit_vote_args  # noqa: E402

PASSWORD = "parola-123"
RATINGS = {"A": {"dogruluk": 5, "guvenlik": 4, "uygulanabilirlik": 4, "aciklik": 5},
           "B": {"dogruluk": 2, "guvenlik": 1, "uygulanabilirlik": 3, "aciklik": 3}}


def prepared_service(db_path: Path, clients: int, votes: int) -> AnnotationService:
    config = AppConfig(db_url=f"sqlite:///{db_path}", gold_share=0.0, swap_repeat_share=0.0)
    service = AnnotationService.from_config(config)
    seed_database(service, clients * votes)
    for k in range(clients):
        service.add_user(f"bench{k:02d}", PASSWORD)
    return service


def run_clients(clients: int, work) -> tuple[list[float], float]:
    """Run `work(k, latencies)` for each client in its own thread; returns (latencies, wall seconds)."""
    latencies: list[float] = []
    lock = threading.Lock()

    def one(k: int) -> None:
        mine: list[float] = []
        work(k, mine)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(clients)))
    return latencies, time.perf_counter() - started


def summary(latencies: list[float], wall: float) -> dict:
    ordered = sorted(latencies)
    return {"votes": len(ordered), "p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 2),
            "votes_per_s": round(len(ordered) / wall, 2), "wall_s": round(wall, 2)}


def bench_server(workdir: Path, clients: int, votes: int, deadline: float) -> dict:
    service = prepared_service(workdir / "server.db", clients, votes)
    process, url = start_server(service.config, workdir)
    try:
        sessions = [login(url, f"bench{k:02d}", PASSWORD) for k in range(clients)]

        def work(k: int, latencies: list[float]) -> None:
            client = sessions[k]
            task = client.predict(api_name="/next_task")[0]
            for _ in range(votes):
                if task is None or time.monotonic() > deadline:
                    return
                started = time.perf_counter()
                task = client.predict(*submit_vote_args(task), api_name="/submit_vote")[0]
                latencies.append(time.perf_counter() - started)

        return summary(*run_clients(clients, work))
    finally:
        stop_server(process)


def bench_service(workdir: Path, clients: int, votes: int, deadline: float) -> dict:
    service = prepared_service(workdir / "service.db", clients, votes)

    def work(k: int, latencies: list[float]) -> None:
        user = f"bench{k:02d}"
        task = service.next_task(user)
        for _ in range(votes):
            if task is None or time.monotonic() > deadline:
                return
            started = time.perf_counter()
            service.submit_vote(user, VoteInput(task.assignment_id, "a_better", ratings=RATINGS,
                                                flags={"B": {"wrong_dose_unit": "critical"}},
                                                corrections={"B": "Düzeltilmiş cevap."}))
            task = service.next_task(user)
            service.progress(user)
            latencies.append(time.perf_counter() - started)

    return summary(*run_clients(clients, work))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--votes-per-client", type=int, default=10)
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per phase")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="app_load_") as tmp:
        workdir = Path(tmp)
        service = bench_service(workdir, args.clients, args.votes_per_client, time.monotonic() + args.time_limit)
        server = bench_server(workdir, args.clients, args.votes_per_client, time.monotonic() + args.time_limit)
    print(json.dumps({
        "clients": args.clients, "votes_per_client": args.votes_per_client, "cpu_count": os.cpu_count(),
        "server": server, "service_baseline": service,
        "ratio": {"p50_latency_server_over_service": round(server["p50_ms"] / service["p50_ms"], 2),
                  "throughput_server_over_service": round(server["votes_per_s"] / service["votes_per_s"], 3)},
    }, indent=2))


if __name__ == "__main__":
    main()
