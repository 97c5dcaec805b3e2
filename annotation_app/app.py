"""Serve the annotation app: python -m annotation_app --config configs/annotation/app.yaml [--host H] [--port N]

Also runs by path (`python annotation_app/app.py ...`). Binds 127.0.0.1 unless told otherwise; analytics off.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run by path: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# Gradio's queue rebuilds a pandas summary of up to 10,000 past events after every event (for its monitoring
# page); at the default frequency of 1 that cost grows with uptime and was ~10% of server CPU under load.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")

from annotation_app.config import AppConfig, add_config_arguments, config_from_args  # noqa: E402
from annotation_app.service import AnnotationService  # noqa: E402


def create_app(config: AppConfig, extend: Callable | None = None):
    """(Gradio Blocks, service) for `config`; orders pending items by a reward model when one is configured.
    `extend(demo, service)`, if given, runs inside the Blocks context to add components or events (the load
    benchmark adds a no-op endpoint that way)."""
    from annotation_app.ui import build_ui

    service = AnnotationService.from_config(config)
    if config.reward_model:
        from annotation_app.active_learning import prioritize_items, reward_score_fn

        prioritize_items(service.sessions, reward_score_fn(config.reward_model))
    demo = build_ui(service)
    if extend is not None:
        with demo:
            extend(demo, service)
    demo.queue(default_concurrency_limit=config.concurrency_limit)
    return demo, service


def async_authenticator(service: AnnotationService):
    """Gradio calls `auth` on its event loop: run the scrypt check (~50 ms of CPU) in a worker thread so a
    login does not stall every other annotator's requests."""
    from anyio import to_thread

    async def authenticate(username: str, password: str) -> bool:
        return await to_thread.run_sync(service.authenticate, username, password)

    return authenticate


def launch(config: AppConfig, extend: Callable | None = None, **kwargs):
    from annotation_app.ui import KEYBOARD_JS

    demo, service = create_app(config, extend)
    return demo.launch(
        server_name=config.host,
        server_port=config.port,
        auth=async_authenticator(service),
        auth_message="Tarım RLHF etiketleme — kullanıcı adınız ve parolanızla girin.",
        js=KEYBOARD_JS,
        ssr_mode=False,
        footer_links=["api"],
        **kwargs,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_config_arguments(parser)
    parser.add_argument("--host", default=None, help="bind address (default from config: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    config = config_from_args(args)
    config.host = args.host or config.host
    config.port = args.port or config.port
    launch(config)


if __name__ == "__main__":
    main()
