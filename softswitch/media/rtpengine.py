"""rtpengine as the media plane (``media.engine: rtpengine``): the switch keeps the
signalling, rtpengine carries a two-party call's RTP.

One call is one rtpengine call (its call-id the call's record id) with two monologues,
tagged ``a`` (the caller's leg) and ``b`` (the answering leg), as in the B2BUA.  ``open``
offers the caller's session and answers it with a placeholder for the other leg: the two
ports rtpengine returns are the ports each leg's phone sends to, as the in-process relay's
are, so the call's SDP is written the same way whichever carries the media.  What each
phone says later (its answer, a re-INVITE, a new phone on the leg after a transfer or a
pick-up) is an offer (leg a) or an answer (leg b) with ``port-latching``: rtpengine keeps
the ports and sends to the new address.  Updates of one call go out in order.

A phone that leaves a leg (a parker) is written out the same way: its session, receiving
nowhere.  Music and prompts are rtpengine's ``play media`` (a WAV file; the answer's duration says
when a prompt is over); ``stop media`` ends them.  A leg that must not hear the other
has the other's media blocked.  Key presses come from rtpengine's DTMF log
(``--dtmf-log-dest``: one JSON datagram per event) read on ``dtmf_listen``.  Calls whose
media the switch must hear or make (recording, voicemail, supervisors, menus, browsers)
stay on the in-process relay: the B2BUA decides which before a call rings.

Each answered call is queried every third of ``inactivity_timeout``: a call whose RTP
packet count has not grown for that long on the switch's clock (or that rtpengine no
longer knows) is told to ``on_dead``.  ``close`` queries the call's counters (for the history) and deletes it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..sdp.model import SessionDescription, parse_sdp
from ..sdp.offer_answer import RelayPorts, relay_view, relayed_stream
from ..sip.errors import RemoteProtocolError
from .ng import NgClient, NgError
from .relay import KEYS

log = logging.getLogger(__name__)

FLAGS = ["port-latching"]
PROMPT_FAILED = 1.0  # seconds a prompt rtpengine did not play is taken to last
EVENTS = {str(i): KEYS[i] for i in range(16)} | {k: k for k in KEYS}


@dataclass
class LegCounters:
    """What rtpengine counted on one leg: packets and bytes received from its phone."""

    packets: int = 0
    bytes: int = 0
    errors: int = 0


@dataclass
class EngineCall:
    id: str
    address: str
    ports: dict[str, RelayPorts]
    active: bool = False
    sdp: dict[str, SessionDescription] = field(default_factory=dict)  # what each leg's phone said last
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    playing: dict[str, asyncio.TimerHandle] = field(default_factory=dict)  # leg -> a prompt's end
    sounds: dict[str, int] = field(default_factory=dict)  # leg -> how many plays and stops it was sent
    packets: int = 0  # RTP packets rtpengine had received at the last query ...
    moved: float = 0.0  # ... and when (the switch's clock) that count last changed, or the call was answered
    chained: bool = False  # the switch's relay carries its media (rtpengine at most passes the caller's on)
    answered: bool = False  # once answered: ringing no more (a ringing call is kept alive in rtpengine)


class RtpEngine:
    def __init__(self, host: str, port: int, *, inactivity_timeout: float = 60.0, dtmf: tuple[str, int] | None = None) -> None:
        self.ng = NgClient(host, port)
        self.inactivity_timeout, self.dtmf = inactivity_timeout, dtmf
        self.watch = max(2.0, inactivity_timeout / 3)  # a dead call is ended within 4/3 of the timeout
        self.calls: dict[str, EngineCall] = {}
        self.on_dead: Callable[[str], None] = lambda _: None
        self.on_digit: Callable[[str, str, str], None] = lambda *_: None
        self.counters = {"opened": 0, "closed": 0, "failed": 0, "packets_in": 0}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._dtmf_transport: asyncio.DatagramTransport | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.ng.start()
        await self.ng.request("ping")  # rtpengine must be there: say so at start, not at the first call
        if self.dtmf is not None:
            loop = asyncio.get_running_loop()
            peer = self.ng.transport.get_extra_info("peername") if self.ng.transport is not None else None
            host = str(peer[0]) if peer else self.ng.address[0]  # rtpengine's address, resolved (a name is allowed)
            self._dtmf_transport, _ = await loop.create_datagram_endpoint(lambda: _DtmfLog(self, host),
                                                                          local_addr=self.dtmf)
        self._watcher = asyncio.create_task(self._watch())

    @property
    def close_time(self) -> float:
        """The longest ``close`` may take (seconds): an update in flight, then the query,
        each retried until the client gives up."""
        return 2 * self.ng.timeout * self.ng.attempts

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        for call_id in list(self.calls):
            await self.close(call_id)
        if self._tasks:  # the calls being let go, and their last updates
            await asyncio.wait(self._tasks, timeout=5)
        for task in list(self._tasks):
            task.cancel()
        if self._dtmf_transport is not None:
            self._dtmf_transport.close()
        self.ng.close()

    # --- a call ---------------------------------------------------------------------
    async def open(self, call_id: str, offer: SessionDescription) -> tuple[str, RelayPorts, RelayPorts]:
        """rtpengine's address and the ports the phones on legs a and b send to; ``NgError``."""
        index = relayed_stream(offer)
        if index is None:
            raise NgError("the offer has no stream to relay")
        try:
            offered = await self.ng.request("offer", call_id=call_id, from_tag="a", sdp=bytes(offer), flags=FLAGS)
            b_address, b_ports = _ports(offered, index)
            answered = await self.ng.request("answer", call_id=call_id, from_tag="a", to_tag="b", sdp=bytes(_nowhere(offer)),
                                             flags=FLAGS)
            _, a_ports = _ports(answered, index)
        except BaseException as exc:  # refused, silent, an answer that makes no sense, or the switch stopping
            self.counters["failed"] += 1
            self._spawn(self._delete(call_id))
            if isinstance(exc, NgError) or not isinstance(exc, Exception):  # not isinstance: cancelled
                raise
            raise NgError(f"rtpengine's answer unusable: {exc!r}") from exc
        self.calls[call_id] = EngineCall(call_id, b_address, {"a": a_ports, "b": b_ports}, sdp={"a": offer})
        self.counters["opened"] += 1
        return b_address, a_ports, b_ports

    def update(self, call_id: str, leg: str, sdp: SessionDescription) -> None:
        """What the phone on ``leg`` said (its address, codecs, direction), in order."""
        call = self.calls.get(call_id)
        if call is None or leg not in ("a", "b"):
            return
        call.sdp[leg] = sdp
        if leg == "a":
            self._in_order(call, "offer", call_id=call_id, from_tag="a", to_tag="b", sdp=bytes(sdp), flags=FLAGS)
        else:
            self._in_order(call, "answer", call_id=call_id, from_tag="a", to_tag="b", sdp=bytes(sdp), flags=FLAGS)

    def chain(self, call_id: str, relay: SessionDescription) -> None:
        """From now on rtpengine passes the caller's media to the switch's relay (``relay``: the
        caller's session as the relay's port receives it) and the relay's to the caller: its
        leg b is the relay.  The relay carries the call's media; rtpengine is not watched."""
        call = self.calls.get(call_id)
        if call is not None:
            self.update(call_id, "b", relay)
            call.chained, call.active = True, False

    def let_go(self, call_id: str) -> None:
        """The switch's relay carries the call from now on: rtpengine's call is deleted (its
        counters are not the call's)."""
        call = self.calls.pop(call_id, None)  # at once: nothing more is sent or heard for it
        if call is not None:
            call.chained = True
            self._spawn(self._close(call))

    def detach(self, call_id: str, leg: str) -> None:
        """The phone on ``leg`` left (a parker): rtpengine sends it nothing more (its session
        now receives nowhere) until another phone's session takes the leg."""
        call = self.calls.get(call_id)
        last = call.sdp.get(leg) if call is not None else None
        if call is not None and last is not None:
            self.update(call_id, leg, _nowhere(last))
            call.sdp.pop(leg, None)

    def activate(self, call_id: str, active: bool = True) -> None:
        call = self.calls.get(call_id)
        if call is not None and call.active != active:
            call.active = active
            call.answered = call.answered or active
            call.moved = asyncio.get_running_loop().time()  # silence counts from the answer (or the pick-up)

    def play(self, call_id: str, leg: str, file: Path, *, repeat: bool = False,
             on_done: Callable[[], None] | None = None) -> None:
        """``file`` (a WAV) to the phone on ``leg``: looped (music), or once then ``on_done``."""
        call = self.calls.get(call_id)
        if call is None:
            if on_done is not None:
                on_done()
            return
        self._cancel_prompt(call, leg)
        sound = call.sounds[leg] = call.sounds.get(leg, 0) + 1
        fields: dict[str, Any] = {"call_id": call_id, "from_tag": leg, "file": str(file.absolute())}  # rtpengine's
        # working directory is not the switch's
        if repeat:
            fields["repeat_times"] = 1_000_000

        def played(answer: dict[str, Any] | None) -> None:
            if on_done is None or call.sounds.get(leg) != sound:  # stopped, or another sound since
                return
            duration = answer.get("duration") if answer is not None else None
            seconds = duration / 1000 if isinstance(duration, int) and 0 <= duration < 3_600_000 else 0.0
            if answer is None or call_id not in self.calls:
                seconds = PROMPT_FAILED  # not played: the caller still waits a moment, not a tight loop
            call.playing[leg] = asyncio.get_running_loop().call_later(seconds, self._prompt_over, call, leg, on_done)

        self._in_order(call, "play media", then=played, **fields)

    def announce(self, call_id: str, leg: str, files: list[Path], on_done: Callable[[], None]) -> None:
        """``files`` one after the other to the phone on ``leg``, then ``on_done``."""
        if not files:
            asyncio.get_running_loop().call_soon(on_done)  # as the relay's player: never within the caller's turn
            return
        self.play(call_id, leg, files[0], on_done=lambda: self.announce(call_id, leg, files[1:], on_done))

    def _prompt_over(self, call: EngineCall, leg: str, on_done: Callable[[], None]) -> None:
        call.playing.pop(leg, None)
        on_done()

    def _cancel_prompt(self, call: EngineCall, leg: str) -> None:
        handle = call.playing.pop(leg, None)
        if handle is not None:
            handle.cancel()

    def stop_playing(self, call_id: str, leg: str) -> None:
        call = self.calls.get(call_id)
        if call is not None:
            self._cancel_prompt(call, leg)
            call.sounds[leg] = call.sounds.get(leg, 0) + 1
            self._in_order(call, "stop media", call_id=call_id, from_tag=leg, quiet=True)

    def deafen(self, call_id: str, leg: str, deaf: bool) -> None:
        """The phone on ``leg`` hears nothing of the other leg (its media is blocked)."""
        call = self.calls.get(call_id)
        if call is not None:
            other = "b" if leg == "a" else "a"
            self._in_order(call, "block media" if deaf else "unblock media", call_id=call_id, from_tag=other)

    async def close(self, call_id: str) -> dict[str, LegCounters] | None:
        """The call's counters per leg (None if rtpengine could not say), and it is deleted."""
        call = self.calls.pop(call_id, None)
        return await self._close(call) if call is not None else None

    async def _close(self, call: EngineCall) -> dict[str, LegCounters] | None:
        call_id = call.id
        for leg in list(call.playing):
            self._cancel_prompt(call, leg)
        async with call.lock:  # after the updates already sent
            try:
                counters = _counters(await self.ng.request("query", call_id=call_id))
            except Exception as exc:  # refused, silent, or nonsense: the call's row goes without them
                log.warning("call %s: rtpengine's counters not read: %r", call_id, exc)
                counters = None
            finally:
                self._spawn(self._delete(call_id))  # the row waits for the counters, not for this
        self.counters["closed"] += 1
        if counters is not None:
            self.counters["packets_in"] += sum(c.packets for c in counters.values())
        return counters

    async def _delete(self, call_id: str) -> None:
        try:
            await self.ng.request("delete", call_id=call_id)
        except NgError as exc:
            log.warning("call %s: rtpengine did not delete it: %s", call_id, exc)

    # --- the asyncio edge ---------------------------------------------------------
    def _in_order(self, call: EngineCall, command: str, *, then: Callable[[dict[str, Any] | None], None] | None = None,
                  quiet: bool = False, **fields: Any) -> None:
        async def send() -> None:
            async with call.lock:
                if call.id not in self.calls:
                    return
                try:
                    answer: dict[str, Any] | None = await self.ng.request(command, **fields)
                except NgError as exc:
                    if not quiet:
                        log.warning("call %s: %s", call.id, exc)
                    answer = None
            if then is not None:
                then(answer)

        self._spawn(send())

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch(self) -> None:
        """Each call looked at once per ``watch`` seconds, spread evenly over that time (a
        thousand calls: one every 20 ms at the default, not a burst): an answered one is
        queried (is its media still flowing?), a ringing one kept alive."""
        while True:
            calls = [(call_id, call) for call_id, call in self.calls.items() if not call.chained]
            if not calls:
                await asyncio.sleep(self.watch)
                continue
            for call_id, call in calls:
                await asyncio.sleep(self.watch / len(calls))
                if call_id not in self.calls:
                    continue
                if ringing(call):
                    self._keep_alive(call)
                if not call.active:  # ringing, parked, or handed to the relay: nothing to query
                    continue
                try:
                    if await self._query(call):
                        self.on_dead(call_id)
                except Exception:  # a nonsense answer, or the B2BUA's hang-up failing: the others are still watched
                    log.exception("call %s: its silence check failed", call_id)

    def _keep_alive(self, call: EngineCall) -> None:
        """rtpengine deletes a call that received no RTP for its ``--timeout`` (60 s unless
        told), and a caller rarely sends any while it rings: a ringing call's leg b is said
        again as it was (its session, or the placeholder), which rtpengine counts as
        signalling.  Not while a prompt plays to it (a new answer may restart rtpengine's
        codec handling under the player)."""
        last = call.sdp.get("b") or (_nowhere(call.sdp["a"]) if "a" in call.sdp else None)
        if last is not None:
            self._in_order(call, "answer", call_id=call.id, from_tag="a", to_tag="b", sdp=bytes(last), flags=FLAGS,
                           quiet=True)

    async def _query(self, call: EngineCall) -> bool:
        """Whether the call is dead: rtpengine forgot it, its packets stopped growing
        ``inactivity_timeout`` ago, or rtpengine has not answered since then (a call whose
        media nobody carries any more is not kept up, billed, until its people hang up)."""
        try:
            answer = await self.ng.request("query", call_id=call.id)
        except NgError as exc:
            if call.id not in self.calls or not call.active:
                return False
            if "Unknown call" in str(exc):
                log.info("call %s: rtpengine forgot it", call.id)
                return True
            if asyncio.get_running_loop().time() - call.moved > self.inactivity_timeout:
                log.warning("call %s: rtpengine has not said for %g s whether its media flows: %s", call.id,
                            self.inactivity_timeout, exc)
                return True
            return False
        return self._check(call, answer)

    def _check(self, call: EngineCall, answer: dict[str, Any]) -> bool:
        """Dead when the RTP packets rtpengine received stopped growing ``inactivity_timeout``
        ago (the switch's clock: rtpengine's may be another host's)."""
        now, packets = asyncio.get_running_loop().time(), _rtp_packets(answer)
        if packets != call.packets:
            call.packets, call.moved = packets, max(call.moved, now)
            return False
        return call.active and call.id in self.calls and now - call.moved > self.inactivity_timeout

    def heard_key(self, event: dict[str, Any]) -> None:
        call_id, tag = str(event.get("callid", "")), str(event.get("source_tag", ""))
        key = EVENTS.get(str(event.get("event", "")))
        call = self.calls.get(call_id)
        if call is not None and not call.chained and tag in ("a", "b") and key is not None:  # chained: the relay
            self.on_digit(call_id, tag, key)  # hears the keys rtpengine passes on, and tells them itself


class _DtmfLog(asyncio.DatagramProtocol):
    """rtpengine's DTMF log: a JSON object per key press."""

    def __init__(self, engine: RtpEngine, host: str) -> None:
        self.engine, self.host = engine, host

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if addr[0] != self.host:  # only rtpengine tells of keys pressed
            return
        try:
            event = json.loads(data)
        except ValueError:
            log.debug("an unreadable DTMF log datagram from %s", addr)
            return
        if isinstance(event, dict):
            self.engine.heard_key(event)


def ringing(call: EngineCall) -> bool:
    """A call not answered yet, nothing being played to it: rtpengine hears nothing of it."""
    return not call.answered and not call.active and not call.chained and not call.playing


def _ports(answer: dict[str, Any], index: int) -> tuple[str, RelayPorts]:
    """rtpengine's address and ports for stream ``index`` in the SDP it returned."""
    try:
        sdp = parse_sdp(str(answer["sdp"]))
        media = sdp.media[index]
        connection = sdp.media_connection(media)
        rtcp = media.first("rtcp")
        port = media.line.port
        rtcp_port = int(rtcp.split()[0]) if rtcp else port + 1
        if connection is None or not port:
            raise ValueError("no address or port")
    except (KeyError, IndexError, ValueError, RemoteProtocolError) as exc:
        raise NgError(f"rtpengine's SDP names no port for stream {index}: {exc}") from None
    return connection.address, RelayPorts(port, port if media.has_attribute("rtcp-mux") else rtcp_port)


def _streams(answer: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(tag, stream) for every stream of a query's answer; what is not shaped so is skipped."""
    out: list[tuple[str, dict[str, Any]]] = []
    tags = answer.get("tags")
    for tag, monologue in (tags.items() if isinstance(tags, dict) else ()):
        medias = monologue.get("medias") if isinstance(monologue, dict) else None
        for media in medias if isinstance(medias, list) else ():
            streams = media.get("streams") if isinstance(media, dict) else None
            out.extend((tag, stream) for stream in (streams if isinstance(streams, list) else ()) if isinstance(stream, dict))
    return out


def _rtp_streams(answer: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(tag, stream) for tag, stream in _streams(answer)
            if isinstance(stream.get("flags"), list) and "RTP" in stream["flags"]]


def _number(stats: Any, key: str) -> int:
    value = stats.get(key) if isinstance(stats, dict) else None
    return value if isinstance(value, int) and value >= 0 else 0


def _counters(answer: dict[str, Any]) -> dict[str, LegCounters]:
    """A query's counters by leg: the RTP rtpengine received from each leg's phone (RTCP
    apart, as the switch's relay counts)."""
    out: dict[str, LegCounters] = {}
    for tag, stream in _rtp_streams(answer):
        stats, counters = stream.get("stats"), out.setdefault(tag, LegCounters())
        counters.packets += _number(stats, "packets")
        counters.bytes += _number(stats, "bytes")
        counters.errors += _number(stats, "errors")
    return out


def _rtp_packets(answer: dict[str, Any]) -> int:
    """RTP packets rtpengine received on the call so far, both legs."""
    return sum(_number(stream.get("stats"), "packets") for _, stream in _rtp_streams(answer))


def _nowhere(sdp: SessionDescription) -> SessionDescription:
    """``sdp`` receiving nowhere: a leg whose phone is not known yet, or has left."""
    return relay_view(sdp, "0.0.0.0", RelayPorts(9, 9))


def engine_of(control: str, dtmf: str | None, inactivity_timeout: float) -> RtpEngine:
    """The engine the config names: ``udp:HOST:PORT`` and the DTMF log's ``HOST:PORT``."""
    _, host, port = control.split(":")
    listen = None
    if dtmf is not None:
        dtmf_host, dtmf_port = dtmf.rsplit(":", 1)
        listen = (dtmf_host, int(dtmf_port))
    return RtpEngine(host, int(port), inactivity_timeout=inactivity_timeout, dtmf=listen)
