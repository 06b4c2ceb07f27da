"""`fastpitch serve` (the HTTP API and web page) and `fastpitch bench serve` (a bounded load test on loopback)."""

from __future__ import annotations

import ipaddress
import json
import os
import re
from pathlib import Path

import typer

from fastpitch.cli.app import app, bench_app, console
from fastpitch.errors import FastPitchError

VOICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DEFAULT_WORKERS = max(1, min(4, os.cpu_count() or 1))

VOICE_HELP = (
    "A voice to load, as NAME=DIR or DIR (named after the directory); repeat for several, the first is the "
    "default. Without any: the shipped default voice."
)


def parse_voices(specs: list[str]) -> dict[str, str | None]:
    """['slt=voices/slt', 'voices/kal'] → {'slt': 'voices/slt', 'kal': 'voices/kal'}; none → the default voice."""
    if not specs:
        return {"default": None}
    voices: dict[str, str | None] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = Path(spec).resolve().name, spec
        if not VOICE_NAME.match(name):
            raise FastPitchError(f"voice name {name!r} must be letters, digits, '.', '_' or '-' (at most 64)")
        if name in voices:
            raise FastPitchError(f"voice name {name!r} is given twice")
        if not Path(path).is_dir():
            raise FastPitchError(f"voice directory not found: {path}")
        voices[name] = path
    return voices


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    voice: list[str] = typer.Option([], "--voice", help=VOICE_HELP),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on; 0.0.0.0 opens it to the network."
    ),
    port: int = typer.Option(5002, "--port", min=0, max=65535, help="TCP port."),
    api_key: str | None = typer.Option(
        None,
        "--api-key",
        envvar="FASTPITCH_API_KEY",
        help="Require 'Authorization: Bearer KEY' on /api and /v1 (or set FASTPITCH_API_KEY).",
    ),
    cors_origin: list[str] = typer.Option(
        [], "--cors-origin", help="Let web pages from this origin call the API (repeatable); off by default."
    ),
    max_concurrency: int = typer.Option(
        DEFAULT_WORKERS, "--max-concurrency", min=1, help="Syntheses running at once (worker threads)."
    ),
    queue_size: int = typer.Option(
        16, "--queue-size", min=0, help="Requests that may wait for a worker; beyond that: 503 + Retry-After."
    ),
    timeout: float = typer.Option(
        60.0, "--timeout", min=0.1, help="Seconds a request may wait and run (504)."
    ),
    max_chars: int = typer.Option(5000, "--max-chars", min=1, help="Longest text accepted (413 beyond)."),
) -> None:
    """Serve speech over HTTP: an OpenAI-compatible API, a simple GET API and a web page at /."""
    import uvicorn

    from fastpitch.server import create_app

    voices = parse_voices(voice)
    if not _is_loopback(host) and not api_key:
        console.print(
            f"[yellow]warning:[/yellow] listening on {host} without --api-key: anyone who can reach it may use it"
        )
    application = create_app(
        voices,
        max_concurrency=max_concurrency,
        queue_size=queue_size,
        timeout_s=timeout,
        max_chars=max_chars,
        api_key=api_key,
        cors_origins=tuple(cors_origin),
    )
    shown = f"[{host}]" if ":" in host else host
    console.print(f"fastpitch is serving {', '.join(voices)} on http://{shown}:{port}/  (Ctrl+C stops it)")
    # On SIGINT/SIGTERM uvicorn stops accepting and lets running requests finish, up to one request timeout.
    uvicorn.run(
        application, host=host, port=port, timeout_graceful_shutdown=int(timeout) + 5, log_level="info"
    )


@bench_app.command("serve")
def bench_serve_command(
    voice: list[str] = typer.Option([], "--voice", help=VOICE_HELP),
    requests: int = typer.Option(50, "--requests", min=1, help="Requests in total."),
    concurrency: int = typer.Option(8, "--concurrency", min=1, help="Requests in flight at once."),
    text: str | None = typer.Option(None, "--text", help="Text of every request (default: two sentences)."),
    max_concurrency: int | None = typer.Option(None, "--max-concurrency", min=1, help="Server workers."),
    queue_size: int | None = typer.Option(None, "--queue-size", min=0, help="Server queue size."),
    out: Path = typer.Option(Path("bench-results/serve.json"), "--out", help="Where to write the JSON."),
) -> None:
    """Start the server on loopback, load it (50 requests, 8 at a time), report p50/p95 latency and errors."""
    from fastpitch.server.loadtest import DEFAULT_TEXT, bench_serve, write_json

    parse_voices(voice)  # fail here, not in the server's log
    with console.status(f"load-testing the server: {requests} requests, {concurrency} at a time"):
        result = bench_serve(
            voice,
            requests,
            concurrency,
            text or DEFAULT_TEXT,
            max_concurrency=max_concurrency,
            queue_size=queue_size,
        )
    write_json(result, out)
    print(json.dumps(result, indent=2))
