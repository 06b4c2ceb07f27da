"""One error shape for every endpoint, OpenAI's (`{"error": {"message", "type", "param", "code"}}`), so that
OpenAI client libraries show our messages, and one place that decides each status code.

| status | when |
|---|---|
| 400 | malformed JSON; a voice, speaker or audio format this server does not have |
| 401 | API key missing or wrong (only when the server has one) |
| 413 | text longer than the server's limit, or a request body far larger than such a text |
| 415 | a POST body that is not JSON |
| 422 | values that fail the schema: empty text, numbers out of range or not numbers, unknown fields |
| 503 | every worker busy and the queue full (with `Retry-After`) |
| 504 | the request waited or ran longer than the server's timeout |
| 500 | a bug: the traceback goes to the server log, not to the client |
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "request_too_large",
    415: "invalid_request_error",
    422: "invalid_request_error",
    501: "not_implemented",
    503: "server_busy",
    504: "timeout",
}


class ApiError(Exception):
    """An error answer: status, a one-line message, the offending parameter and extra headers."""

    def __init__(
        self, status: int, message: str, param: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.headers = headers or {}


def error_response(
    status: int, message: str, param: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {
        "error": {
            "message": message,
            "type": ERROR_TYPES.get(status, "server_error"),
            "param": param,
            "code": status,
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _describe(error: dict[str, Any]) -> tuple[str | None, str]:
    """('pace', 'pace: Input should be less than or equal to 4') from one pydantic error."""
    loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query")]
    param = ".".join(loc) or None
    if param is None and tuple(error.get("loc", ())) == ("body",) and error.get("type") == "missing":
        return None, "the request body is empty: send a JSON object with the fields this endpoint takes"
    msg = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return param, f"{param}: {msg}" if param else msg


def install_error_handlers(app: FastAPI) -> None:
    """Render every failure, FastAPI's own included, in the one shape with the status codes above."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.param, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        in_body = any(e.get("loc", ("",))[0] == "body" for e in errors)
        if in_body and request.method == "POST" and not _is_json(request.headers.get("content-type")):
            return error_response(415, "the request body must be JSON (Content-Type: application/json)")
        if any(e.get("type") == "json_invalid" for e in errors):
            detail = (
                next(e for e in errors if e.get("type") == "json_invalid").get("ctx", {}).get("error", "")
            )
            return error_response(400, f"the request body is not valid JSON: {detail}".rstrip(": "))
        param, message = _describe(errors[0]) if errors else (None, "invalid request")
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        return error_response(422, message, param)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        return error_response(500, "internal error while handling the request (see the server log)")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


# How /openapi.json describes the error answers: every one is `error_response`'s body.
ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": "integer"},
            },
        }
    },
}
ERROR_MEANINGS = {
    400: "a bad request: a body that is not valid JSON, a format or value the server cannot use",
    401: "a missing or wrong API key (when the server has one)",
    404: "no such voice or job",
    409: "a voice or job of that name exists already",
    413: "text over the server's limit, or a body too large",
    415: "a body that is not JSON",
    422: "a field that fails validation, or text, markup or a document that cannot be spoken",
    500: "a fault of the server (logged there; the answer reveals nothing of it)",
    501: "a feature this server's install lacks (the message names the extra)",
    503: "every worker is busy (see Retry-After)",
    504: "synthesis took longer than the server's timeout",
}


def openapi_errors(*statuses: int) -> dict[int, dict]:
    """OpenAPI entries for error answers, all `{"error": {message, type, param, code}}` as OpenAI's are."""
    return {
        s: {"description": ERROR_MEANINGS[s], "content": {"application/json": {"schema": ERROR_SCHEMA}}}
        for s in statuses
    }
