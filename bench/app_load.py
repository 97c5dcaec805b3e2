"""Load benchmark of the annotation app: N concurrent annotators submitting votes.

Every phase runs N annotator threads in this process; each logs in, fetches a task and submits
--votes-per-client full votes (8 ratings, a flag, a correction), waiting --think-ms between a reply and its next
submit. Reported per phase: submit latency p50/p95 (ms), votes/s, and where the server runs in a subprocess its
CPU and this (client) process's CPU per request, so the client's own cost is visible.

Phases, all in the same run:
  service            in-process service layer: vote_and_next (what /submit_vote runs)
  server             real server on 127.0.0.1, a lean HTTP client per annotator (one keep-alive connection,
                     speaking Gradio's protocol as the browser does: one POST run/<api> for events that skip
                     the queue, as the annotation events do; POST queue/join + SSE queue/data otherwise)
  server_noop        the same client against /bench_noop: same inputs and outputs as /submit_vote, no database;
                     Gradio + HTTP + client overhead alone
  gradio_client      real server driven by gradio_client.Client (what the tests use; 2 HTTP connections and
                     4 threads per call, so its own CPU cost is large)
  gradio_client_noop gradio_client against /bench_noop
--think-ms 0 (the default) is a closed loop at saturation: N requests always in flight, so latency is
N / throughput (Little's law) and measures throughput; a realistic think time (annotators read two answers,
tens of seconds) measures latency at a given load. Bounded by --time-limit per phase. Prints JSON.

    python bench/app_load.py [--clients 20] [--votes-per-client 10] [--think-ms 0] [--phases service,server,...]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import ssl
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
for _name, _value in {
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
}.items():
    os.environ.setdefault(_name, _value)

from annotation_app.config import AppConfig  # noqa: E402
from annotation_app.service import AnnotationService, VoteInput  # noqa: E402
from annotation_app.testing import seed_database, start_server, stop_server, submit_vote_args  # noqa: E402

PASSWORD = "parola-123"
RATINGS = {
    "A": {"dogruluk": 5, "guvenlik": 4, "uygulanabilirlik": 4, "aciklik": 5},
    "B": {"dogruluk": 2, "guvenlik": 1, "uygulanabilirlik": 3, "aciklik": 3},
}
PHASES = ("service", "server", "server_noop", "gradio_client", "gradio_client_noop")
NOOP_API = "bench_noop"


# ---------------------------------------------------------------- server side (run in the server subprocess)


def add_noop_endpoint(demo, service) -> None:
    """/bench_noop: the inputs, outputs and queue setting of /submit_vote; checks the login, touches no database."""
    import gradio as gr

    from annotation_app.service import Progress, Screen, Task
    from annotation_app.ui import _user, screen_outputs

    submit = next(fn for fn in demo.fns.values() if fn.api_name == "submit_vote")

    def noop(request: gr.Request, assignment, *form):
        _user(request)
        task = Task(int(assignment), "soru", "buğday", "Konya", "ilkbahar", "sebze", "cevap a", "cevap b")
        return screen_outputs(Screen(task, Progress(0, 0)), "Oyunuz kaydedildi.")

    noop.__annotations__["request"] = gr.Request  # a real class: `gr` is not a global here for Gradio to resolve
    gr.Button(visible=False).click(
        noop, submit.inputs, submit.outputs, api_name=NOOP_API, queue=submit.queue, api_visibility="undocumented"
    )


def serve(argv: list[str]) -> None:
    """`python bench/app_load.py --serve --config FILE`: the app as `python -m annotation_app` runs it, plus
    the /bench_noop endpoint."""
    from annotation_app.app import launch
    from annotation_app.config import load_config

    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    config = load_config(parser.parse_args(argv).config)
    launch(config, extend=add_noop_endpoint)


# ---------------------------------------------------------------- clients


class LeanClient:
    """One annotator's browser-like client: a keep-alive HTTP connection and Gradio's HTTP protocol."""

    def __init__(self, url: str, username: str, password: str) -> None:
        import httpx

        self.http = httpx.Client(base_url=url, timeout=60.0)
        self.http.post("login", data={"username": username, "password": password}).raise_for_status()
        config = self.http.get("config").json()
        self.prefix = config.get("api_prefix", "/gradio_api").strip("/") + "/"
        self.fn_index = {dep["api_name"]: dep["id"] for dep in config["dependencies"] if dep.get("api_name")}
        # As the browser decides: an event with `queue: false` is one POST to run/<api_name>.
        self.skips_queue = {
            dep["api_name"]: not (config.get("enable_queue", True) if dep.get("queue") is None else dep["queue"])
            for dep in config["dependencies"]
            if dep.get("api_name")
        }
        self.session_hash = uuid.uuid4().hex

    def predict(self, *data, api_name: str) -> list:
        api_name = api_name.lstrip("/")
        body = {
            "data": list(data),
            "fn_index": self.fn_index[api_name],
            "session_hash": self.session_hash,
            "event_data": None,
            "trigger_id": None,
        }
        if self.skips_queue[api_name]:
            reply = self.http.post(self.prefix + f"run/{api_name}", json=body)
            if reply.status_code != 200:
                raise RuntimeError(f"{api_name} failed: {reply.status_code} {reply.text[:300]}")
            return reply.json()["data"]
        joined = self.http.post(self.prefix + "queue/join", json=body)
        joined.raise_for_status()
        event_id, output = joined.json()["event_id"], None
        with self.http.stream("GET", self.prefix + "queue/data", params={"session_hash": self.session_hash}) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed" and message.get("event_id") == event_id:
                    if not message.get("success"):
                        raise RuntimeError(f"{api_name} failed: {message.get('output')}")
                    output = message["output"]["data"]
                elif message.get("msg") == "close_stream":  # read to the end: the connection stays reusable
                    break
        if output is None:
            raise RuntimeError(f"{api_name}: stream closed without a result")
        return output

    def close(self) -> None:
        self.http.close()


_SSL_CONTEXT = None


def gradio_client_login(url: str, username: str, password: str):
    """gradio_client.Client sharing one SSL context: it builds a new httpx client per call, and each one would
    otherwise load the CA bundle again (~20 ms of CPU, twice per call; irrelevant on plain http)."""
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        _SSL_CONTEXT = ssl.create_default_context()
    from gradio_client import Client

    return Client(url, auth=(username, password), verbose=False, analytics_enabled=False, ssl_verify=_SSL_CONTEXT)


# ---------------------------------------------------------------- measurement


def prepared_service(db_path: Path, clients: int, votes: int) -> AnnotationService:
    config = AppConfig(db_url=f"sqlite:///{db_path}", gold_share=0.0, swap_repeat_share=0.0)
    service = AnnotationService.from_config(config)
    seed_database(service, clients * votes + clients)
    for k in range(clients):
        service.add_user(f"bench{k:02d}", PASSWORD)
    return service


def process_cpu_s(pid: int | None = None) -> float:
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_clients(clients: int, work) -> tuple[list[float], float]:
    """Run `work(k, latencies)` for each client in its own thread, all released together; returns
    (latencies, wall seconds)."""
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def one(k: int) -> None:
        mine: list[float] = []
        start.wait()
        work(k, mine)
        with lock:
            latencies.extend(mine)

    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(one, k) for k in range(clients)]
        start.wait()
        started = time.perf_counter()
        for future in futures:
            future.result()
    return latencies, time.perf_counter() - started


def summary(latencies: list[float], wall: float) -> dict:
    ordered = sorted(latencies)
    return {
        "votes": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "votes_per_s": round(len(ordered) / wall, 2),
        "wall_s": round(wall, 2),
    }


def think(rng: random.Random, think_ms: float) -> None:
    if think_ms > 0:  # uniform in [0.5, 1.5] × think time, so clients do not move in lockstep
        time.sleep(think_ms / 1000 * rng.uniform(0.5, 1.5))


def measure(
    clients: int, votes: int, think_ms: float, deadline: float, first_task, submit, server_pid: int | None = None
) -> dict:
    """Each client k: task = first_task(k); then `votes` × (think, submit(k, task) → next task)."""
    tasks = [first_task(k) for k in range(clients)]
    cpu_server, cpu_client = (process_cpu_s(server_pid) if server_pid else 0.0), process_cpu_s()

    def work(k: int, latencies: list[float]) -> None:
        rng, task = random.Random(k), tasks[k]
        for _ in range(votes):
            if task is None or time.monotonic() > deadline:
                return
            think(rng, think_ms)
            started = time.perf_counter()
            task = submit(k, task)
            latencies.append(time.perf_counter() - started)

    result = summary(*run_clients(clients, work))
    result["client_cpu_ms_per_vote"] = round((process_cpu_s() - cpu_client) * 1000 / max(1, result["votes"]), 2)
    if server_pid:
        result["server_cpu_ms_per_vote"] = round(
            (process_cpu_s(server_pid) - cpu_server) * 1000 / max(1, result["votes"]), 2
        )
    return result


def bench_service(workdir: Path, clients: int, votes: int, think_ms: float, deadline: float) -> dict:
    service = prepared_service(workdir / "service.db", clients, votes)

    def submit(k: int, task):
        user = f"bench{k:02d}"
        return service.vote_and_next(
            user,
            VoteInput(
                task.assignment_id,
                "a_better",
                ratings=RATINGS,
                flags={"B": {"wrong_dose_unit": "critical"}},
                corrections={"B": "Düzeltilmiş cevap."},
            ),
        ).task

    return measure(clients, votes, think_ms, deadline, lambda k: service.next_task(f"bench{k:02d}"), submit)


def bench_server(
    workdir: Path, clients: int, votes: int, think_ms: float, deadline_s: float, phases: list[str]
) -> dict[str, dict]:
    service = prepared_service(workdir / "server.db", clients, votes * 2)
    process, url = start_server(service.config, workdir, command=(str(Path(__file__).resolve()), "--serve"))
    results: dict[str, dict] = {}
    try:
        for phase in phases:
            lean = phase.startswith("server")
            connect = LeanClient if lean else gradio_client_login
            with ThreadPoolExecutor(4) as pool:  # logins run scrypt on the server; not part of the measurement
                sessions = list(
                    pool.map(connect, [url] * clients, [f"bench{k:02d}" for k in range(clients)], [PASSWORD] * clients)
                )
            api = f"/{NOOP_API}" if phase.endswith("_noop") else "/submit_vote"

            def first_task(k: int, sessions=sessions):
                return sessions[k].predict(api_name="/next_task")[0]

            def submit(k: int, task, sessions=sessions, api=api):
                return sessions[k].predict(*submit_vote_args(task), api_name=api)[0]

            results[phase] = measure(
                clients, votes, think_ms, time.monotonic() + deadline_s, first_task, submit, server_pid=process.pid
            )
            if lean:
                for session in sessions:
                    session.close()
    finally:
        stop_server(process)
    return results


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve"]:
        serve(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--votes-per-client", type=int, default=10)
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="mean pause between a reply and the next submit (0: closed loop at saturation)",
    )
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per phase")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {PHASES}")
    args = parser.parse_args(argv)
    phases = [p for p in args.phases.split(",") if p]
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        parser.error(f"unknown phase(s) {unknown}; known: {PHASES}")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="app_load_") as tmp:
        workdir = Path(tmp)
        if "service" in phases:
            results["service"] = bench_service(
                workdir, args.clients, args.votes_per_client, args.think_ms, time.monotonic() + args.time_limit
            )
        server_phases = [p for p in phases if p != "service"]
        if server_phases:
            results.update(
                bench_server(
                    workdir, args.clients, args.votes_per_client, args.think_ms, args.time_limit, server_phases
                )
            )
    print(
        json.dumps(
            {
                "clients": args.clients,
                "votes_per_client": args.votes_per_client,
                "think_ms": args.think_ms,
                "cpu_count": os.cpu_count(),
                **{p: results[p] for p in phases},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
