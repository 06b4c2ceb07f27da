"""The `fastpitch serve` application: an OpenAI-compatible speech endpoint, a simple GET API and a web page.

    POST /v1/audio/speech   OpenAI's API: {"model", "input", "voice", "response_format", "speed"} → audio
    GET  /api/tts           ?text=…&voice=…&speaker=…&pace=…&pitch_shift=…&pitch_range=…&format=…&stream=…
                            (&ssml=true for SSML, &timestamps=word|phone for JSON with the words' times)
    POST /api/synthesize    JSON in; JSON out with the audio, the mel, the pitch contour (the page plots them) and
                            the prosody document (every symbol's duration, pitch and energy; docs/prosody.md)
    POST /api/prosody       a prosody document (maybe edited) in; the same JSON out
    POST /api/like          text + a recording of it (base64) in; the text said like it, the same JSON out
    GET  /api/voices        loaded voices, their speakers, the formats and limits
    POST /api/finetune      ?name=…&minutes_budget=… with a zip of clips: a fine-tuning job (--finetune-dir)
    GET  /api/finetune/{id} the job's status, progress and ETA; its voice joins /api/voices when done
    GET  /healthz           liveness and load; never needs the API key
    GET  /                  the web page
    GET  /openapi.json      the schema (no /docs: Swagger UI would load from a CDN, and this server is offline)

Voices load once, in `create_app`; synthesis runs in a bounded worker pool (see `limits.py`), never on the event
loop. Status codes are listed in `errors.py`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import io
from collections.abc import Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Protocol

import numpy as np
import soundfile as sf
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fastpitch import __version__
from fastpitch.server.encoding import STREAMABLE, available_formats
from fastpitch.server.errors import ApiError, error_response, install_error_handlers, openapi_errors
from fastpitch.server.finetune import FinetuneJobs
from fastpitch.server.schemas import (
    MAX_PROSODY_BYTES,
    MAX_RECORDING_BASE64,
    OPENAI_VOICES,
    LikeRequest,
    ProsodyRequest,
    SpeakRequest,
    SpeechRequest,
    TtsQuery,
)
from fastpitch.server.service import Service, Settings
from fastpitch.server.voices import Controls, Voice, VoiceSet

STATIC_DIR = Path(__file__).parent / "static"
PROTECTED_PREFIXES = ("/api/", "/v1/")
# Paths whose bodies carry more than text (a prosody document, a recording), and the size each may reach.
LARGE_BODIES = {"/api/prosody": MAX_PROSODY_BYTES, "/api/like": MAX_RECORDING_BASE64 + 65536}
UPLOAD_PATH = "/api/finetune"  # the clips of a fine-tuning job: `max_upload_bytes`
# The page loads only its own files: this also proves there is no CDN dependency.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _times(written: bool) -> dict[str, object]:
    """The schema of a list of timed items (words, marks, phones); words also say what was written."""
    item = {"text": {"type": "string"}, "start": {"type": "number"}, "end": {"type": "number"}}
    if written:
        item["written"] = {
            "type": ["string", "null"],
            "description": "the text as written, on a group's first word",
        }
    return {"type": "array", "items": {"type": "object", "properties": item}}


TIMES = {"words": _times(True), "marks": _times(False), "phones": _times(False)}
TIMESTAMPED = {
    "type": "object",
    "description": "With `timestamps=word|phone`: the audio as base64 and the times (seconds) of each word and mark.",
    "properties": {
        "voice": {"type": "string"},
        "format": {"type": "string"},
        "sample_rate": {"type": "integer"},
        "audio_base64": {"type": "string"},
        "duration": {"type": "number"},
        **TIMES,
    },
}
STREAM_LINE = {
    "type": "object",
    "description": "One line per sentence of a timestamped stream (`stream` with `timestamps`): its audio (a whole "
    "WAV, or raw PCM) and its times, in seconds of the whole stream.",
    "properties": {
        "start": {"type": "number"},
        "sample_rate": {"type": "integer"},
        "audio_base64": {"type": "string"},
        **TIMES,
    },
}
AUDIO_RESPONSES = {
    200: {
        "content": {
            "audio/wav": {},
            "audio/flac": {},
            "audio/mpeg": {},
            "audio/ogg": {},
            "audio/pcm": {"schema": {"description": "16-bit little-endian mono samples at the rate given"}},
            "application/json": {"schema": TIMESTAMPED},
            "application/x-ndjson": {"schema": STREAM_LINE},
        }
    }
}
SPEECH_ERRORS = (400, 401, 413, 415, 422, 500, 503, 504)
router = APIRouter()


def service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(service)]


@router.post(
    "/v1/audio/speech",
    tags=["speech"],
    response_class=Response,
    responses=AUDIO_RESPONSES | openapi_errors(*SPEECH_ERRORS),
)
async def openai_speech(req: SpeechRequest, svc: ServiceDep) -> Response:
    """Speak `input` (OpenAI-compatible). `pcm` is 16-bit mono at 24 kHz, as OpenAI sends it."""
    loaded = req.voice in svc.voices.voices
    voice = svc.voices.get(None if (req.voice in OPENAI_VOICES and not loaded) else req.voice)
    # OpenAI's default is mp3, which is not streamed here: a stream asked without a format gets WAV
    fmt = req.response_format or ("mp3" if "mp3" in available_formats() and not req.stream else "wav")
    controls = req.controls(pace=req.speed)
    svc.check_text(req.input, "input")
    svc.check_format(fmt, req.stream, "response_format")
    voice.check_speaker(controls.speaker)
    out_rate = 24000 if fmt == "pcm" else None
    if req.stream:
        return await svc.stream_response(voice, req.input, controls, fmt, out_rate, req.timestamps)
    if req.timestamps != "none":
        return await svc.timestamped_response(
            voice, req.input, controls, fmt, req.timestamps == "phone", out_rate
        )
    return await svc.audio_response(voice, req.input, controls, fmt, out_rate)


def _prepare(svc: Service, req: SpeakRequest) -> tuple[Voice, Controls]:
    voice = svc.voices.get(req.voice)
    svc.check_text(req.text, "text")
    voice.check_speaker(req.speaker)
    return voice, req.controls(pace=req.pace)


@router.get(
    "/api/tts",
    tags=["speech"],
    response_class=Response,
    responses=AUDIO_RESPONSES | openapi_errors(400, 401, 413, 422, 500, 503, 504),
)
async def tts(query: Annotated[TtsQuery, Query()], svc: ServiceDep) -> Response:
    """Speak `text` and return the audio; `stream=true` sends it sentence by sentence (wav or pcm)."""
    voice, controls = _prepare(svc, query)
    svc.check_format(query.format, query.stream, "format")
    if query.stream:
        return await svc.stream_response(voice, query.text, controls, query.format, None, query.timestamps)
    if query.timestamps != "none":
        return await svc.timestamped_response(
            voice, query.text, controls, query.format, query.timestamps == "phone"
        )
    return await svc.audio_response(voice, query.text, controls, query.format)


@router.post("/api/synthesize", tags=["speech"], responses=openapi_errors(*SPEECH_ERRORS))
async def synthesize(req: SpeakRequest, svc: ServiceDep) -> dict:
    """Speak `text`; the answer holds the WAV (base64), the mel spectrogram (8-bit levels) and the pitch in Hz."""
    voice, controls = _prepare(svc, req)
    return await svc.analysis(voice, lambda: voice.analyze(req.text, controls))


@router.post("/api/prosody", tags=["speech"], responses=openapi_errors(*SPEECH_ERRORS))
async def prosody(req: ProsodyRequest, svc: ServiceDep) -> dict:
    """Speak a prosody document: every value it gives is used, only the values left out (null) are predicted.
    The answer is /api/synthesize's, its prosody document complete."""
    voice = svc.voices.get(req.voice)
    svc.check_length(prosody_chars(req.prosody), "prosody.text")
    return await svc.analysis(voice, lambda: voice.replay(req.prosody))


def prosody_chars(document: dict) -> int:
    """How much text a prosody document speaks: its text's length (its sentences must be that text's, which the
    pipeline checks), held to the server's text limit like any other text."""
    text = document.get("text")
    return len(text) if isinstance(text, str) else 0


@router.post("/api/like", tags=["speech"], responses=openapi_errors(*SPEECH_ERRORS, 501))
async def like(req: LikeRequest, svc: ServiceDep) -> dict:
    """Say `text` like the recording: its timing and melody (moved into the voice's pitch). 422 when the
    recording cannot be aligned to the text. The answer is /api/synthesize's."""
    voice = svc.voices.get(req.voice)
    svc.check_text(req.text, "text")
    voice.check_speaker(req.speaker)
    audio, rate = decode_recording(req.audio_base64)
    return await svc.analysis(voice, lambda: voice.like(req.text, audio, rate, req.speaker, req.ssml))


def decode_recording(data: str) -> tuple[np.ndarray, int]:
    """Mono float32 audio and its rate from a base64 audio file; anything else is the request's fault."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (ValueError, binascii.Error):
        raise ApiError(422, "audio_base64 is not base64", "audio_base64") from None
    try:
        audio, rate = sf.read(io.BytesIO(raw), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError):  # libsndfile's message names only the buffer
        raise ApiError(
            422, "audio_base64 is not a readable audio file (WAV, FLAC, OGG)", "audio_base64"
        ) from None
    return audio.mean(axis=1), int(rate)


@router.get("/api/voices", tags=["info"], responses=openapi_errors(401))
async def voices(svc: ServiceDep) -> dict:
    """The loaded voices (the first is the default), their speakers, the audio formats and the limits."""
    return {
        "default": svc.voices.default,
        "voices": [v.describe() for v in svc.voices],
        "formats": list(available_formats()),
        "streaming_formats": [f for f in STREAMABLE if f in available_formats()],
        "max_chars": svc.settings.max_chars,
    }


def _jobs(svc: Service) -> FinetuneJobs:
    if svc.finetune is None:
        raise ApiError(404, "fine-tuning is off on this server: start it with --finetune-dir DIR", None)
    return svc.finetune


@router.post(
    "/api/finetune",
    tags=["finetune"],
    status_code=202,
    responses=openapi_errors(400, 401, 404, 409, 413, 422),
    openapi_extra={
        "requestBody": {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}
    },
)
async def finetune_submit(
    request: Request,
    svc: ServiceDep,
    name: Annotated[str, Query(description="The new voice's name.")],
    minutes_budget: Annotated[float | None, Query(description="Cap on the job's wall time.")] = None,
) -> dict:
    """Start fine-tuning a voice on the clips in the body (a zip of clip.wav + clip.txt pairs, or an LJSpeech
    folder); answers at once with the job, whose progress `GET /api/finetune/{id}` reports."""
    jobs = _jobs(svc)
    body = await request.body()
    job = await asyncio.to_thread(jobs.submit, body, name, minutes_budget)
    return job.describe()


@router.get("/api/finetune", tags=["finetune"], responses=openapi_errors(401, 404))
async def finetune_jobs(svc: ServiceDep) -> dict:
    """Every fine-tuning job of this server, oldest first."""
    return {"jobs": [j.describe() for j in _jobs(svc).jobs.values()]}


@router.get("/api/finetune/{job_id}", tags=["finetune"], responses=openapi_errors(401, 404, 422))
async def finetune_job(job_id: str, svc: ServiceDep) -> dict:
    """One job: status (queued, running, done, failed), stage, progress (0-1), eta_seconds, and when done its
    warnings and evaluation; its voice is then in `/api/voices`."""
    return _jobs(svc).get(job_id).describe()


@router.get("/healthz", tags=["info"])
async def healthz(svc: ServiceDep) -> dict:
    """Liveness and current load."""
    return svc.health()


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers={"Content-Security-Policy": PAGE_CSP})


class RequestGuard:
    """Checks the API key on the API paths and caps the request body before anything parses it."""

    def __init__(
        self, app: ASGIApp, api_key: str | None, max_body_bytes: int, max_upload_bytes: int = 0
    ) -> None:
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes  # the clips of a fine-tuning job (POST /api/finetune)

    def _authorized(self, scope: Scope) -> bool:
        headers = dict(scope.get("headers") or [])
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode("latin-1"), self.api_key
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        protected = scope["path"].startswith(PROTECTED_PREFIXES) and scope["method"] != "OPTIONS"
        if self.api_key and protected and not self._authorized(scope):
            message = "missing or wrong API key: send the header 'Authorization: Bearer <key>'"
            response = error_response(401, message, headers={"WWW-Authenticate": "Bearer"})
            return await response(scope, receive, send)
        if scope["method"] != "POST":
            return await self.app(scope, receive, send)
        if scope["path"] == UPLOAD_PATH:
            limit = self.max_upload_bytes
        else:
            limit = LARGE_BODIES.get(scope["path"], self.max_body_bytes)
        # Read the (small) body here, so that an oversized one is refused before it fills memory.
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                response = error_response(413, f"request body over {limit} bytes")
                return await response(scope, receive, send)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


class Listener(Protocol):
    """Another front end over the same service (the Wyoming server), started and stopped with the app."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def create_app(
    voices: dict[str, str | Path | None],
    max_concurrency: int = 2,
    queue_size: int = 16,
    timeout_s: float = 60.0,
    max_chars: int = 5000,
    api_key: str | None = None,
    cors_origins: Sequence[str] = (),
    finetune_dir: str | Path | None = None,
) -> FastAPI:
    """Load `voices` (name → voice directory, None for the shipped default) and build the application;
    `finetune_dir` turns on fine-tuning jobs, which keep their uploads, work and voices there."""
    settings = Settings(
        max_concurrency=max_concurrency, queue_size=queue_size, timeout_s=timeout_s, max_chars=max_chars
    )
    voice_set = VoiceSet(voices)
    jobs = FinetuneJobs(finetune_dir, voice_set) if finetune_dir is not None else None
    return build_app(Service(voice_set, settings, jobs), api_key=api_key, cors_origins=cors_origins)


def build_app(
    svc: Service,
    api_key: str | None = None,
    cors_origins: Sequence[str] = (),
    listeners: Sequence[Listener] = (),
) -> FastAPI:
    """The application over a loaded service; `listeners` share its voices and limits and live as long as it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        started: list[Listener] = []
        try:
            for listener in listeners:
                await listener.start()
                started.append(listener)
            yield
        finally:
            for listener in reversed(started):
                await listener.stop()
            svc.shutdown()

    app = FastAPI(
        title="fastpitch",
        version=__version__,
        summary="FastPitch text-to-speech over HTTP, OpenAI-compatible.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = svc
    install_error_handlers(app)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # JSON escapes can take 6 bytes per character; anything larger cannot be a valid request.
    max_chars = svc.settings.max_chars
    app.add_middleware(
        RequestGuard,
        api_key=api_key,
        max_body_bytes=6 * max_chars + 65536,
        max_upload_bytes=svc.settings.max_upload_bytes if svc.finetune is not None else 6 * max_chars + 65536,
    )
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["X-Sample-Rate", "Retry-After", "Content-Disposition"],
        )
    return app
