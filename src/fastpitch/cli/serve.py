"""`fastpitch serve` (the HTTP API and web page, the Wyoming protocol) and `fastpitch bench serve` (a bounded load
test on loopback)."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path

import typer

from fastpitch.cli.app import app, bench_app, console, write_result
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
        if not path.strip():
            raise FastPitchError(f"--voice {spec!r} names no folder: give NAME=PATH")
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
    wyoming: str | None = typer.Option(
        None,
        "--wyoming",
        help="Also speak the Wyoming protocol (Home Assistant) here: tcp://HOST:PORT or unix://PATH.",
    ),
    http: bool = typer.Option(
        True, "--http/--no-http", help="Serve HTTP; --no-http with --wyoming serves only Wyoming."
    ),
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
    finetune_dir: Path | None = typer.Option(
        None,
        "--finetune-dir",
        help="Accept fine-tuning jobs (POST /api/finetune with a zip of clips); uploads, work and voices go here.",
    ),
    max_upload_mb: int = typer.Option(512, "--max-upload-mb", min=1, help="Largest zip of clips accepted."),
) -> None:
    """Serve speech over HTTP (an OpenAI-compatible API, a simple GET API and a web page at /) and/or over the
    Wyoming protocol for Home Assistant; both share the voices, the workers and the limits."""
    import asyncio

    from fastpitch.server.listen import listen_tcp
    from fastpitch.server.service import Service, Settings
    from fastpitch.server.voices import VoiceSet

    if not http and not wyoming:
        raise FastPitchError("--no-http leaves nothing to serve: add --wyoming tcp://HOST:PORT")
    voices = parse_voices(voice)
    if wyoming:
        from urllib.parse import urlparse

        from fastpitch.server.wyoming import WyomingServer, listen

        sock = listen(wyoming)  # a taken port fails here, before the voices load
        where = urlparse(wyoming)
        if where.scheme == "tcp" and not _is_loopback(where.hostname or "localhost"):
            console.print(
                f"[yellow]warning:[/yellow] Wyoming on {wyoming} has no API key: anyone who can reach it may use it"
            )
    http_sock = listen_tcp(host, port) if http else None  # a taken port fails here, before the voices load
    if http and not _is_loopback(host) and not api_key:
        console.print(
            f"[yellow]warning:[/yellow] listening on {host} without --api-key: anyone who can reach it may use it"
        )
    settings = Settings(
        max_concurrency=max_concurrency,
        queue_size=queue_size,
        timeout_s=timeout,
        max_chars=max_chars,
        max_upload_bytes=max_upload_mb << 20,
    )
    voice_set = VoiceSet(voices)
    jobs = None
    if finetune_dir is not None:
        from fastpitch.server.finetune import FinetuneJobs

        jobs = FinetuneJobs(finetune_dir, voice_set)
    service = Service(voice_set, settings, jobs)
    grace_s = timeout + 5
    listeners = []
    if wyoming:
        listeners.append(WyomingServer(service, sock, grace_s=grace_s))
        console.print(f"fastpitch is speaking Wyoming with {', '.join(voices)} on {listeners[0].uri}")
    if not http:
        console.print("Ctrl+C stops it")
        try:
            asyncio.run(listeners[0].serve_until_signalled())
        finally:
            service.shutdown()
        return

    import uvicorn

    from fastpitch.server.app import build_app

    application = build_app(service, api_key=api_key, cors_origins=tuple(cors_origin), listeners=listeners)
    shown = f"[{host}]" if ":" in host else host
    assert http_sock is not None
    bound = http_sock.getsockname()[1]  # --port 0: the port the system chose
    console.print(f"fastpitch is serving {', '.join(voices)} on http://{shown}:{bound}/  (Ctrl+C stops it)")
    # On SIGINT/SIGTERM uvicorn stops accepting and lets running requests finish, up to one request timeout;
    # then the app's shutdown stops the Wyoming server the same way.
    config = uvicorn.Config(
        application, host=host, port=bound, timeout_graceful_shutdown=int(grace_s), log_level="info"
    )
    uvicorn.Server(config).run(sockets=[http_sock])


@bench_app.command("serve")
def bench_serve_command(
    voice: list[str] = typer.Option([], "--voice", help=VOICE_HELP),
    wyoming: bool = typer.Option(
        False,
        "--wyoming",
        help="Benchmark the Wyoming server instead: first-chunk latency one request at a time, then a burst.",
    ),
    requests: int | None = typer.Option(
        None, "--requests", min=1, help="Requests in total (HTTP: 50); Wyoming: timed one at a time (20)."
    ),
    concurrency: int | None = typer.Option(
        None, "--concurrency", min=1, help="Requests in flight at once (HTTP: 8); Wyoming: the burst (10)."
    ),
    text: str | None = typer.Option(
        None, "--text", help="Text of every request (HTTP default: two sentences; Wyoming: one)."
    ),
    max_concurrency: int | None = typer.Option(None, "--max-concurrency", min=1, help="Server workers."),
    queue_size: int | None = typer.Option(None, "--queue-size", min=0, help="Server queue size."),
    abuse: bool = typer.Option(
        False,
        "--abuse",
        help="Abuse it instead (1,000 requests, 32 at a time): bad bodies, slow clients, idle connections.",
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Where to write the JSON (bench-results/serve.json, serve-wyoming.json, serve-abuse.json).",
    ),
) -> None:
    """Start the server on loopback and measure it: HTTP (50 requests, 8 at a time: p50/p95 latency and errors),
    or with --wyoming the first audio chunk of one-sentence requests, then 10 clients at once."""
    from fastpitch.server.loadtest import DEFAULT_TEXT, bench_serve

    parse_voices(voice)  # fail here, not in the server's log
    if abuse:
        from fastpitch.server.abuse import bench_abuse

        n, in_flight = requests or 1000, concurrency or 32
        with console.status(f"abusing the server: {n} requests, {in_flight} at a time"):
            result = bench_abuse(voice, n, in_flight, max_concurrency=max_concurrency, queue_size=queue_size)
        out = out or Path("bench-results/serve-abuse.json")
    elif wyoming:
        from fastpitch.server.wyoming_bench import ONE_SENTENCE, bench_wyoming

        n, clients = requests or 20, concurrency or 10
        with console.status(f"benchmarking the Wyoming server: {n} requests, then {clients} clients at once"):
            result = bench_wyoming(
                voice,
                n,
                clients,
                text or ONE_SENTENCE,
                max_concurrency=max_concurrency,
                queue_size=queue_size,
            )
        out = out or Path("bench-results/serve-wyoming.json")
    else:
        n, in_flight = requests or 50, concurrency or 8
        with console.status(f"load-testing the server: {n} requests, {in_flight} at a time"):
            result = bench_serve(
                voice,
                n,
                in_flight,
                text or DEFAULT_TEXT,
                max_concurrency=max_concurrency,
                queue_size=queue_size,
            )
        out = out or Path("bench-results/serve.json")
    write_result(result, out)
