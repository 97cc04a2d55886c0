"""The local control socket: the command line asks the running switch about its live state.

A Unix stream socket (``admin.socket``, mode 0600, so only the switch's user may
talk to it): the client writes one command line, the switch answers with one
JSON document and closes.  Most commands are read-only views (``calls``, ``counters``,
``bans``); actions change the running switch (``lift ADDR`` ends a ban, ``reload`` applies
the config file as SIGHUP does) and take at most one argument.  An action is also refused to a peer whose user (``SO_PEERCRED``) is neither the
switch's nor root, should the socket's mode ever be loosened; each one is logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[], Any]
Action = Callable[[str], Any]  # one argument (may be empty); ValueError: refused, with the reason


class AdminError(Exception):
    pass


class AdminServer:
    def __init__(self, path: str, handlers: dict[str, Handler], actions: dict[str, Action] | None = None) -> None:
        self.path = path
        self.handlers = handlers
        self.actions = actions or {}
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
            name, _, argument = command.partition(" ")
            handler = self.handlers.get(command)
            action = self.actions.get(name)
            reply: Any
            if handler is not None:
                reply = {"result": handler()}
            elif action is not None:
                reply = self._act(name, action, argument.strip(), writer)
            else:
                known = ", ".join(sorted([*self.handlers, *(f"{a} ARG" for a in self.actions)]))
                reply = {"error": f"unknown command {command[:100]!r}; known: {known}"}
            writer.write(json.dumps(reply, default=str).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        except Exception:
            log.exception("control socket command failed")
        finally:
            writer.close()

    def _act(self, name: str, action: Action, argument: str, writer: asyncio.StreamWriter) -> Any:
        uid = _peer_uid(writer)
        if uid is not None and uid not in (0, os.getuid()):
            log.warning("control socket: %s refused to user %d", name, uid)
            return {"error": f"{name}: not allowed to user {uid}"}
        try:
            result = action(argument)
        except ValueError as exc:
            return {"error": f"{name}: {exc}"}
        log.info("control socket: %s %s", name, argument[:100])
        return {"result": result}

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


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    """The connecting process's user (Linux ``SO_PEERCRED``), or None where it cannot be read."""
    sock = writer.get_extra_info("socket")
    option = getattr(socket, "SO_PEERCRED", None)
    if sock is None or option is None:
        return None
    try:
        _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i")))
    except OSError:
        return None
    return int(uid)


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
