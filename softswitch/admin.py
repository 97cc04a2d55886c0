"""The local control socket: the command line asks the running switch about its live state.

A Unix stream socket (``admin.socket``, mode 0600, so only the switch's user may
talk to it): the client writes one command line, the switch answers with one
JSON document and closes.  Commands are read-only views (``calls``, ``counters``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[], Any]


class AdminError(Exception):
    pass


class AdminServer:
    def __init__(self, path: str, handlers: dict[str, Handler]) -> None:
        self.path = path
        self.handlers = handlers
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        path = Path(self.path)
        if path.exists() or path.is_symlink():
            if _alive(self.path):
                raise AdminError(f"{self.path}: another switch is running here (its control socket answers)")
            path.unlink()
        self.server = await asyncio.start_unix_server(self._serve, self.path)
        os.chmod(self.path, 0o600)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5.0)
            command = line.decode("utf-8", "replace").strip()
            handler = self.handlers.get(command)
            if handler is None:
                reply: Any = {"error": f"unknown command {command!r}; known: {', '.join(sorted(self.handlers))}"}
            else:
                reply = {"result": handler()}
            writer.write(json.dumps(reply, default=str).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        except Exception:
            log.exception("control socket command failed")
        finally:
            writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            try:
                os.unlink(self.path)
            except OSError:
                pass


def _alive(path: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            s.connect(path)
        return True
    except OSError:
        return False


def query(path: str, command: str, timeout: float = 5.0) -> Any:
    """Ask the running switch; raises ``AdminError`` with a plain explanation."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
    except OSError as exc:
        raise AdminError(f"cannot reach the running switch at {path}: {exc.strerror or exc}") from None
    reply = json.loads(b"".join(chunks) or b"{}")
    if "error" in reply:
        raise AdminError(reply["error"])
    return reply.get("result")
