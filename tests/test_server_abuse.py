"""The server under abuse (issue 21, part 4), smaller than `fastpitch bench serve --abuse`: valid requests mixed
with oversized bodies, wrong types, bad JSON, texts at and over the limit, unknown voices, slow clients that
trickle their body or never read the answer, and idle connections held open, against real uvicorn on loopback."""

from __future__ import annotations

import asyncio
import os

from fastpitch.server.abuse import abuse_test
from test_server import live, make_app, voice_dirs  # noqa: F401 (a fixture)


def test_abuse_gets_only_4xx_and_503_and_the_server_stays_healthy(voice_dirs):  # noqa: F811
    app = make_app(voice_dirs, max_chars=60, max_concurrency=2, queue_size=4)
    with live(app) as (url, _):
        result = asyncio.run(
            abuse_test(url, requests=100, concurrency=8, max_chars=60, held_open=20, server_pid=os.getpid())
        )
    assert result["unexpected"] == 0, result["unexpected_samples"]
    assert result["served_500"] == 0
    ok = sum(v for k, v in result["statuses"].items() if k.startswith("valid:200"))
    assert ok > 0 and result["latency_ms"]["p50"] is not None
    for kind, status in (
        ("oversized_body", 413),
        ("bad_json", 400),
        ("over_limit", 413),
        ("wrong_type", 422),
    ):
        if result["kinds"].get(kind):
            assert result["statuses"].get(f"{kind}:{status}") == result["kinds"][kind], result["statuses"]
    assert result["healthy_after"]
    assert result["rss_mb"]["growth"] < 50


def test_defaults_bind_loopback_and_cors_is_off():
    import inspect

    from fastpitch.cli.serve import serve
    from fastpitch.server.app import RequestGuard, create_app

    assert inspect.signature(serve).parameters["host"].default.default == "127.0.0.1"
    assert inspect.signature(create_app).parameters["cors_origins"].default == ()
    assert "compare_digest" in inspect.getsource(RequestGuard._authorized)
