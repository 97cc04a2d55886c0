"""The composition root: config, store, SIP endpoint and services wired together.

The only module that knows every piece.  It routes requests by method to the
services, answers what belongs to the switch itself (OPTIONS), sends NAT
keep-alives, and reloads the config on SIGHUP (an invalid config is refused
whole and the running one stays).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import secrets
import signal
from pathlib import Path

from . import __version__
from .config import Config, ConfigError, load_config
from .registrar.keepalive import KeepaliveService
from .registrar.service import RegistrarService
from .sip.message import Request, Response, make_response
from .sip.transaction import ServerTransaction, Target, TimerConfig
from .sip.transport.endpoint import ListenSpec, SipEndpoint, make_tls_context
from .sip.uas import check_request
from .store import BindingStore, open_store

log = logging.getLogger(__name__)

USER_AGENT = f"softswitch/{__version__}"
# What the switch implements today.  INVITE is accepted for the generic checks and
# authentication; bridging calls is the B2BUA's job (issue #3).
ALLOWED = frozenset({"REGISTER", "OPTIONS", "ACK", "CANCEL", "BYE", "INVITE"})
SUPPORTED = frozenset({"path", "outbound"})


_ids = random.Random(secrets.randbits(128))


def new_id() -> str:
    """Tags, branches and Call-IDs: 64 random bits (RFC 3261 §19.3 asks for 32), from a
    generator seeded by the OS. These identify, they do not protect: no CSPRNG needed."""
    return f"{_ids.getrandbits(64):016x}"


class App:
    def __init__(self, config: Config, config_path: str | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.store: BindingStore | None = None
        self.endpoint: SipEndpoint | None = None
        self.registrar: RegistrarService | None = None
        self._stopped = asyncio.Event()
        self._keepalive: asyncio.Task[None] | None = None

    # --- lifecycle --------------------------------------------------------
    async def start(self) -> None:
        cfg = self.config
        self.store = await open_store(cfg.store.url)
        self.endpoint = SipEndpoint(
            self, timers=_timers(cfg), max_message_size=cfg.transport.max_message_size,
            tcp_idle_timeout=cfg.transport.tcp_idle_timeout,
            is_banned=lambda host: self.registrar is not None and self.registrar.is_banned(host),
            branch_factory=new_id,
        )
        self.registrar = RegistrarService(
            cfg, self.store, secret=secrets.token_bytes(32), respond=self.endpoint.respond, tag_factory=new_id,
        )
        await self.registrar.start()
        tls = make_tls_context(str(cfg.server.tls.certificate), str(cfg.server.tls.private_key)) if cfg.server.tls else None
        await self.endpoint.listen([ListenSpec(spec.transport, spec.address, spec.port) for spec in cfg.server.listen], tls)
        keepalive = KeepaliveService(self.registrar, self.endpoint, user_agent=USER_AGENT, new_id=new_id)
        self._keepalive = asyncio.get_running_loop().create_task(keepalive.run())
        for spec in cfg.server.listen:
            log.info("listening on %s %s:%d", spec.transport, spec.address, spec.port)

    async def run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        loop.add_signal_handler(signal.SIGTERM, self._stopped.set)
        loop.add_signal_handler(signal.SIGINT, self._stopped.set)
        await self.start()
        log.info("softswitch %s ready", __version__)
        await self._stopped.wait()
        await self.stop()

    async def stop(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
        if self.endpoint is not None:
            await self.endpoint.close()
        if self.registrar is not None:
            await self.registrar.close()
        if self.store is not None:
            await self.store.close()
        log.info("stopped")

    def reload(self) -> None:
        if self.config_path is None:
            return
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error("config reload refused; the running config stays in place:")
            for problem in exc.problems:
                log.error("  %s", problem)
            return
        if new.server != self.config.server:
            log.warning("server.listen/tls changes take effect at the next restart")
        if new.store != self.config.store:
            log.warning("store changes take effect at the next restart")
        self.config = new
        assert self.registrar is not None
        gone = self.registrar.apply_config(new)
        log.info("config reloaded from %s (%d bindings of removed extensions dropped)", self.config_path, len(gone))

    # --- the transaction user ----------------------------------------------
    def on_request(self, tx: ServerTransaction, request: Request, source: Target) -> None:
        assert self.endpoint is not None and self.registrar is not None
        early = check_request(request, ALLOWED, SUPPORTED)
        if early is not None:
            self.endpoint.respond(tx, early)
            return
        method = request.method
        if method == "REGISTER":
            self.registrar.on_register(tx, request, source)
        elif method == "OPTIONS":
            self.endpoint.respond(tx, self._options_answer(request))
        elif request.to.tag is not None or method in ("BYE", "CANCEL"):
            self.endpoint.respond(tx, make_response(request, 481, to_tag=None))
        else:
            self._unroutable(tx, request)

    def _options_answer(self, request: Request) -> Response:
        resp = make_response(request, 200, to_tag=new_id())
        resp.add("Allow", ", ".join(sorted(ALLOWED)))
        resp.add("Accept", "application/sdp")
        resp.add("Supported", ", ".join(sorted(SUPPORTED)))
        resp.add("Server", USER_AGENT)
        return resp

    def _unroutable(self, tx: ServerTransaction, request: Request) -> None:
        """A new INVITE: until the B2BUA exists, say so plainly (after the generic checks)."""
        assert self.endpoint is not None
        max_forwards = request.max_forwards
        if max_forwards == 0:
            self.endpoint.respond(tx, make_response(request, 483))
            return
        resp = make_response(request, 501, "Calls Not Implemented Yet", to_tag=new_id())
        self.endpoint.respond(tx, resp)

    def on_cancel(self, tx: ServerTransaction, request: Request, invite: ServerTransaction | None) -> None:
        assert self.endpoint is not None
        self.endpoint.respond(tx, make_response(request, 200 if invite else 481))

    def on_ack(self, request: Request, source: Target) -> None:
        return None  # ACKs for 2xx belong to dialogs; there are none yet

    def on_flow_closed(self, source: Target) -> None:
        if self.registrar is not None:
            self.registrar.flow_closed(source)

def _timers(cfg: Config) -> TimerConfig:
    return TimerConfig(cfg.timers.t1, cfg.timers.t2, cfg.timers.t4)


def run(config_path: str) -> None:
    config = load_config(config_path)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        log.warning("uvloop is not installed; using the default asyncio loop")
    # Long-lived state (config, tables) is frozen out of the collector's way, and young
    # collections run less often: a busy switch allocates many short-lived small objects.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 50)
    asyncio.run(App(config, str(Path(config_path))).run_forever())
