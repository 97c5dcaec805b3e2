"""Serve the annotation app: python -m annotation_app --config configs/annotation/app.yaml [--host H] [--port N]

Also runs by path (`python annotation_app/app.py ...`). Binds 127.0.0.1 unless told otherwise; analytics off; no
API page or footer; Gradio's own texts (the login page included) in Turkish whatever the browser's language.
"""

from __future__ import annotations

import argparse
import logging
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


# Put first in <head> of the app's page: Gradio picks its string table (login page included) from the browser's
# language before anything else of ours runs, so the page reports Turkish; and `?view=api` / `?view=settings`
# (Gradio's API and settings panels) are dropped before Gradio reads the address.
TURKISH_PAGE_SCRIPT = b"""<script>(() => {
  const languages = ["tr-TR", "tr"];
  Object.defineProperty(Navigator.prototype, "language", {get: () => languages[0], configurable: true});
  Object.defineProperty(Navigator.prototype, "languages", {get: () => languages, configurable: true});
  const url = new URL(window.location.href);
  if (url.searchParams.has("view")) { url.searchParams.delete("view"); window.history.replaceState(null, "", url); }
})();</script>"""


class TurkishPage:
    """ASGI middleware: adds TURKISH_PAGE_SCRIPT to the HTML page Gradio serves at the root and sets lang="tr"."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] not in ("/", ""):
            await self.app(scope, receive, send)
            return
        start: dict = {}
        body: list[bytes] = []

        async def buffered(message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            page = b"".join(body)
            if any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers):
                page = page.replace(b"<head>", b"<head>" + TURKISH_PAGE_SCRIPT, 1).replace(
                    b'lang="en"', b'lang="tr"', 1
                )
            headers.append((b"content-length", str(len(page)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": page})

        await self.app(scope, receive, buffered)


def async_authenticator(service: AnnotationService):
    """Gradio calls `auth` on its event loop: run the scrypt check (~50 ms of CPU) in a worker thread so a
    login does not stall every other annotator's requests."""
    from anyio import to_thread

    async def authenticate(username: str, password: str) -> bool:
        return await to_thread.run_sync(service.authenticate, username, password)

    return authenticate


def launch(config: AppConfig, extend: Callable | None = None, **kwargs):
    from starlette.middleware import Middleware

    from annotation_app.ui import CSS, KEYBOARD_JS

    demo, service = create_app(config, extend)
    return demo.launch(
        server_name=config.host,
        server_port=config.port,
        auth=async_authenticator(service),
        auth_message="Tarım RLHF etiketleme — kullanıcı adınız ve parolanızla girin.",
        js=KEYBOARD_JS,
        css=CSS,
        ssr_mode=False,
        footer_links=[],  # no "API üzerinden kullan", no settings page
        app_kwargs={"middleware": [Middleware(TurkishPage)]},
        **kwargs,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_config_arguments(parser)
    parser.add_argument("--host", default=None, help="bind address (default from config: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own start-up probes
    config = config_from_args(args)
    config.host = args.host or config.host
    config.port = args.port or config.port
    launch(config)


if __name__ == "__main__":
    main()
