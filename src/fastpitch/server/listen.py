"""Listening sockets, opened before the voices load so that a taken port or a bad address is said at once."""

from __future__ import annotations

import socket

from fastpitch.errors import FastPitchError


def listen_tcp(host: str, port: int) -> socket.socket:
    """A socket bound to `host`:`port` and listening (port 0: one the system chooses); a FastPitchError naming
    the address when it cannot be had. Listening at once matters: on Linux a second server could otherwise
    bind the same port too and fail only later."""
    try:
        family, *_ = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        return socket.create_server((host, port), family=family)
    except (OSError, ValueError) as e:
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise FastPitchError(f"cannot listen on {where}: {getattr(e, 'strerror', None) or e}") from None
