"""The admin API served by the switch process, on its own event loop (uvicorn, ``loop="none"``:
it runs inside the loop that runs the switch, no thread and no second loop)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the switch's loop owns SIGTERM and SIGINT: uvicorn must not take them over


class ApiServer:
    def __init__(self, app: FastAPI, address: str, port: int, certificate: str | None = None,
                 private_key: str | None = None, name: str = "admin API") -> None:
        config = uvicorn.Config(app, host=address, port=port, loop="none", lifespan="off", log_config=None,
                                access_log=False, ssl_certfile=certificate, ssl_keyfile=private_key,
                                server_header=False)
        self.server = _Server(config)
        self.address, self.port, self.name = address, port, name
        self.task: asyncio.Task[None] | None = None
        self.where = f"{'https' if certificate else 'http'}://{address if ':' not in address else f'[{address}]'}:{port}"

    async def start(self) -> None:
        """Listen (an ``OSError`` saying why if the address cannot be had), then serve."""
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.address, self.port))
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, f"the {self.name} cannot listen on {self.where}: {exc.strerror}") from None
        self.task = asyncio.get_running_loop().create_task(self.server.serve(sockets=[sock]))
        while not self.server.started:
            if self.task.done():
                self.task.result()
                raise OSError(f"the {self.name} did not start on {self.where}")
            await asyncio.sleep(0.02)
        log.info("%s on %s", self.name, self.where)

    async def close(self) -> None:
        if self.task is None:
            return
        self.server.should_exit = True
        try:
            await asyncio.wait_for(self.task, 5)
        except (TimeoutError, asyncio.CancelledError):
            self.task.cancel()
