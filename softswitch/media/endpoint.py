"""The media endpoint: RTP/RTCP sockets of the relay, driven by the event loop.

Each relayed call has two port pairs (leg A and leg B), four non-blocking UDP
sockets.  The loop watches them with ``add_reader``; a readable socket gives
one datagram per wake-up (plain ``recvfrom``), and each packet goes out of the
*other* leg's socket, so every phone sees its audio come from the port it
sends to (symmetric RTP).  What to forward where
is the pure ``RelaySession``'s decision.  No packet objects are built on this
path; the relay reads two header fields.

A recorded or monitored call's RTP sockets are watched with a *tap*: each packet the relay
reads from a leg's phone is also given to the call's ``Recording`` (recorder.py) and its
``Monitoring`` (monitor.py), whatever the relay does with it; other calls keep the plain
path.  A supervisor's leg ("m") is a third port pair in the call's session: the relay
latches it and reads its keys but forwards nothing from it; what it sends is heard only in
the mixes the ``Mixer`` (mixer.py) sends.

A party's RTP socket is *connected* (connect(2)) to the phone its leg latched, once that
phone has been sending from there (when the media address is one IP address: on the
wildcard, connect would also pin the socket's local address): the kernel then delivers that phone's packets alone and
the relay reads them with ``recv`` and sends to it with ``send`` (no address to build or to
parse, and the kernel keeps its route), about a tenth less CPU per packet.  The relay's
decisions stay the same: a socket is connected only to the address the relay latched, at
the once-a-second sweep, and read without an address only from the next sweep on (what was
queued before the connect may come from anyone); it is released (connect with
``AF_UNSPEC``) as soon as the relay forgets the latch (a new SDP address, a party gone, a
browser on the leg) and when the phone has been silent for ``relatch_after``, so that a
phone that moved is heard again and latched anew.  While connected, a stray source's
packets are dropped by the kernel instead of counted as strays.

A once-a-second sweep reports sessions whose media stopped both ways for the
configured time (``on_dead``), which the B2BUA turns into a hang-up.  Counters
(``sessions_opened``/``sessions_closed``, the port pool's) let tests assert
that nothing leaked.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import ipaddress
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..sdp.offer_answer import RelayPorts
from .audio import Sound
from .mixer import Mixer
from .monitor import SUPERVISOR, Mode
from .player import Player, Sends
from .ports import PortPool, PortsExhausted
from .recorder import RecordedFile, Recorders
from .relay import Address, Leg, RelaySession
from .webrtc import IceLite
from .webrtc_leg import WebRtcLeg

Tap = Callable[[str, bytes], None]

log = logging.getLogger(__name__)

BIND_ATTEMPTS = 8
_LIBC = ctypes.CDLL(None, use_errno=True)
_UNSPEC = (ctypes.c_char * 16)()  # a sockaddr of family AF_UNSPEC (0): connect(2) with it dissolves the association


@dataclass
class MediaSession:
    id: str
    relay: RelaySession
    ports: dict[str, int]  # leg -> even RTP port
    sockets: dict[tuple[str, bool], socket.socket] = field(default_factory=dict)  # (leg, rtcp) -> socket
    active: bool = False  # answered: the inactivity deadline applies
    taps: list[Tap] = field(default_factory=list)  # given each packet of the parties' phones (recording, monitoring)
    webrtc: dict[str, WebRtcLeg] = field(default_factory=dict)  # a browser's leg: STUN, DTLS, SRTP on its RTP port
    connected: dict[str, Address] = field(default_factory=dict)  # party leg -> where its RTP socket is connected
    trusted: set[str] = field(default_factory=set)  # connected legs read without an address (queued strays gone)

    def out(self, leg: str, rtcp: bool) -> Sends:
        """What sends to the phone on ``leg``: its socket, or a browser's protecting sender
        (RTCP too: muxed)."""
        browser = self.webrtc.get(leg)
        return browser.sender if browser is not None else self.sockets[(leg, rtcp)]

    def feed(self, leg: str, data: bytes) -> None:
        for tap in self.taps:
            tap(leg, data)

    def relay_ports(self, leg: str) -> RelayPorts:
        port = self.ports[leg]
        return RelayPorts(port, port + 1)


class MediaEndpoint:
    def __init__(
        self, address: str, pool: PortPool, *, inactivity_timeout: float = 60.0,
        on_dead: Callable[[str], None] = lambda _: None,
        on_digit: Callable[[str, str, str], None] = lambda *_: None,
    ) -> None:
        self.address = address
        self.family = socket.AF_INET6 if ":" in address else socket.AF_INET
        # connect(2) on a socket bound to the wildcard address would also fix its local address
        # to the route's choice, which need not be the one the SDP gave: such sockets stay as
        # they are.
        self.connects = _specific(address)
        self.pool = pool
        self.inactivity_timeout = inactivity_timeout
        self.on_dead = on_dead
        self.on_digit = on_digit  # (session id, leg, key): a key pressed on that leg (RFC 4733)
        self.loop = asyncio.get_running_loop()
        self.sessions: dict[str, MediaSession] = {}
        self.counters = {"sessions_opened": 0, "sessions_closed": 0, "send_failed": 0, "bind_failed": 0,
                         "packets_in": 0, "packets_out": 0}  # of closed sessions: RTP and RTCP
        self.player = Player(self.loop)
        self.recorders = Recorders(self.loop)
        self.on_silence: Callable[[str], None] = lambda _: None  # (session id): a message's caller went quiet
        self.recorders.on_silence = lambda session_id: self.on_silence(session_id)
        self.mixer = Mixer(self.loop)
        self._sweeper: asyncio.TimerHandle | None = self.loop.call_later(1.0, self._sweep)

    # --- sessions -------------------------------------------------------------
    def open(self, session_id: str) -> MediaSession:
        """Bind two port pairs for a call; raises ``PortsExhausted`` when none are left."""
        now = self.loop.time()
        session = MediaSession(session_id, RelaySession(Leg("a", 0, None), Leg("b", 0, None), now,
                                                        inactivity_timeout=self.inactivity_timeout), {})
        try:
            for leg in ("a", "b"):
                port, rtp_sock, rtcp_sock = self._bind_pair()
                session.ports[leg] = port
                session.relay.legs[leg].port = port
                session.sockets[(leg, False)] = rtp_sock
                session.sockets[(leg, True)] = rtcp_sock
        except PortsExhausted:
            self._release(session)
            raise
        for (leg, rtcp) in session.sockets:
            self._watch(session, leg, rtcp)
        self.sessions[session_id] = session
        self.counters["sessions_opened"] += 1
        return session

    def _watch(self, session: MediaSession, leg: str, rtcp: bool, tap: Tap | None = None) -> None:
        sock, other = session.sockets[(leg, rtcp)], "b" if leg == "a" else "a"
        browser = session.webrtc.get(leg)
        if browser is not None and not rtcp:
            self.loop.add_reader(sock.fileno(), self._readable_webrtc, browser, session.out(other, False),
                                 session.out(other, True), session.relay, leg, session.id, tap)
            return
        out_peer = None if rtcp or other in session.webrtc else session.connected.get(other)
        peer = session.connected[leg] if not rtcp and leg in session.trusted else None
        self.loop.add_reader(sock.fileno(), self._readable, sock, session.out(other, rtcp), session.relay, leg, rtcp,
                             session.id, tap, out_peer, peer)

    def _retap(self, session: MediaSession, *, rtcp: bool = False) -> None:
        """Watch the parties' RTP sockets with the session's taps (none: the plain path);
        ``rtcp``: their RTCP sockets too (where a leg's sender changed)."""
        tap = None if not session.taps else session.taps[0] if len(session.taps) == 1 else session.feed
        for leg in ("a", "b"):
            for watched in (False, True) if rtcp else (False,):
                self.loop.remove_reader(session.sockets[(leg, watched)].fileno())
                self._watch(session, leg, watched, None if watched else tap)

    def webrtc(self, session_id: str, leg: str, remote_fingerprint: str | None) -> IceLite | None:
        """The phone on ``leg`` is a browser (WebRTC): its port speaks ICE-lite, DTLS-SRTP and
        rtcp-mux from now on.  Its ICE credentials (the same for the whole call), or None
        (no such call).  A fingerprint known later (the browser's answer) is given again."""
        session = self.sessions.get(session_id)
        if session is None or leg not in ("a", "b"):
            return None
        browser = session.webrtc.get(leg)
        if browser is None:
            self._unconnect(session, leg)  # ICE may find the browser at another address
            browser = session.webrtc[leg] = WebRtcLeg(session.sockets[(leg, False)], self.loop, remote_fingerprint)
            self._retap(session, rtcp=True)
        elif remote_fingerprint is not None:
            browser.dtls.set_remote(remote_fingerprint)
        return browser.ice

    def browser_legs(self, session_id: str) -> list[str]:
        """The legs of a call that are browsers' (WebRTC) now."""
        session = self.sessions.get(session_id)
        return list(session.webrtc) if session is not None else []

    def plain(self, session_id: str, leg: str) -> None:
        """The phone on ``leg`` is no longer a browser (a transfer or a pick-up put a desk phone
        there): its port speaks plain RTP again, and the browser's DTLS and keys are dropped."""
        session = self.sessions.get(session_id)
        browser = session.webrtc.pop(leg, None) if session is not None else None
        if session is None or browser is None:
            return
        browser.close()
        self._retap(session, rtcp=True)

    def _bind_pair(self) -> tuple[int, socket.socket, socket.socket]:
        for _ in range(BIND_ATTEMPTS):
            port = self.pool.allocate()
            socks: list[socket.socket] = []
            try:
                for p in (port, port + 1):
                    sock = socket.socket(self.family, socket.SOCK_DGRAM)
                    socks.append(sock)
                    sock.setblocking(False)
                    sock.bind((self.address, p))
            except OSError as exc:  # someone else holds the port: take another one
                for sock in socks:
                    sock.close()
                self.pool.release(port)
                self.counters["bind_failed"] += 1
                log.warning("RTP port %d unavailable (%s); trying another", port, exc.strerror)
                continue
            return port, socks[0], socks[1]
        raise PortsExhausted(f"no bindable RTP port after {BIND_ATTEMPTS} attempts")

    def set_announced(self, session_id: str, leg: str, address: Address | None, events: int | None = None) -> None:
        """What the SDP of the phone on ``leg`` said: where it receives RTP (None: keep the
        last known) and its telephone-event payload type."""
        session = self.sessions.get(session_id)
        if session is None:
            return
        if leg not in session.relay.legs:  # a supervisor's leg gone before its answer
            return
        if address is not None:
            session.relay.legs[leg].announce(address, self.loop.time())
            self._follow(session)
        session.relay.set_events(leg, events)

    def activate(self, session_id: str, active: bool = True) -> None:
        """The call is answered: from now on silence both ways counts towards hang-up.  A parked
        call is not (its party may hold and send nothing): its park expiry ends it."""
        session = self.sessions.get(session_id)
        if session is not None and session.active != active:
            session.active = active
            session.relay.last_packet = max(session.relay.last_packet, self.loop.time())

    def deafen(self, session_id: str, leg: str, deaf: bool) -> None:
        """Whether the phone on ``leg`` must not hear the other leg (its packets are dropped)."""
        session = self.sessions.get(session_id)
        if session is not None:
            session.relay.legs[leg].deaf = deaf

    def detach(self, session_id: str, leg: str) -> None:
        session = self.sessions.get(session_id)
        if session is not None and leg in session.relay.legs:  # a supervisor's leg may be gone already
            session.relay.legs[leg].detach(self.loop.time())
            self._follow(session)

    # --- sounds ----------------------------------------------------------------------
    def play_music(self, session_id: str, leg: str, sound: Sound, pt: int | None) -> None:
        """Loop ``sound`` to the phone on ``leg`` (shared with everyone on the same music)."""
        session = self.sessions.get(session_id)
        if session is not None:
            self.player.music_on((session_id, leg), session.out(leg, False), session.relay.legs[leg], sound, pt or 0)

    def announce(self, session_id: str, leg: str, sounds: list[Sound], pt: int | None,
                 on_done: Callable[[], None]) -> None:
        """Play ``sounds`` once to the phone on ``leg``, then call ``on_done``."""
        session = self.sessions.get(session_id)
        if session is None:
            on_done()
            return
        self.player.announce((session_id, leg), session.out(leg, False), session.relay.legs[leg], sounds, pt or 0, on_done)

    def stop_playing(self, session_id: str, leg: str) -> None:
        self.player.stop((session_id, leg))

    # --- recording ---------------------------------------------------------------------
    def record(self, session_id: str, path: Path, *, mono: bool = False, silence: float | None = None) -> bool:
        """Record the call from now on into ``path`` (a new file; ``mono``: what the caller
        sends, alone, and ``silence`` seconds of quiet told to ``on_silence``): False if there
        is no such call or it is recorded already; ``OSError`` if the file cannot be made."""
        session = self.sessions.get(session_id)
        if session is None or session_id in self.recorders.active:
            return False
        recording = self.recorders.start(session_id, path, mono=mono, silence=silence)
        session.taps.append(recording.feed)
        self._retap(session)
        return True

    def recording(self, session_id: str) -> bool:
        return session_id in self.recorders.active

    def pause_recording(self, session_id: str, paused: bool) -> None:
        self.recorders.pause(session_id, paused)

    def stop_recording(self, session_id: str) -> RecordedFile | None:
        """The call's recording ended and closed (its readers keep their tap until the call
        closes: feeding a recording no longer written costs nothing that lasts)."""
        return self.recorders.stop(session_id)

    # --- a supervisor ------------------------------------------------------------------
    def monitor(self, session_id: str, agent: str, mode: Mode, pts: dict[str, int]) -> RelayPorts | None:
        """A supervisor joins the call on a third port pair (leg "m"): the ports its session
        names, or None (no such call, or one watched already); ``PortsExhausted``."""
        session = self.sessions.get(session_id)
        if session is None or session_id in self.mixer.active:
            return None
        port, rtp_sock, rtcp_sock = self._bind_pair()
        session.ports[SUPERVISOR] = port
        session.sockets[(SUPERVISOR, False)], session.sockets[(SUPERVISOR, True)] = rtp_sock, rtcp_sock
        session.relay.add_leg(Leg(SUPERVISOR, port, None))
        sockets = {leg: session.out(leg, False) for leg in ("a", "b", SUPERVISOR)}
        monitoring = self.mixer.start(session_id, agent, mode, sockets, session.relay.legs, pts)
        for sock, rtcp in ((rtp_sock, False), (rtcp_sock, True)):
            self.loop.add_reader(sock.fileno(), self._heard, sock, session.relay, rtcp, session_id,
                                 None if rtcp else monitoring.feed)
        session.taps.append(monitoring.feed)
        self._retap(session)
        return session.relay_ports(SUPERVISOR)

    def monitor_mode(self, session_id: str, mode: Mode, pts: dict[str, int] | None = None) -> None:
        """Who hears whom from now on; ``pts``: the payload type a leg's session now uses."""
        self.mixer.mode(session_id, mode, pts)

    def end_monitor(self, session_id: str) -> None:
        """The supervisor left: its port pair is let go, the parties hear each other as before."""
        session = self.sessions.get(session_id)
        monitored = self.mixer.active.get(session_id)
        self.mixer.stop(session_id)
        if session is None or monitored is None:
            return
        session.taps.remove(monitored.monitoring.feed)
        self._retap(session)
        session.relay.remove_leg(SUPERVISOR)
        for rtcp in (False, True):
            sock = session.sockets.pop((SUPERVISOR, rtcp))
            self.loop.remove_reader(sock.fileno())
            sock.close()
        self.pool.release(session.ports.pop(SUPERVISOR))

    def close(self, session_id: str) -> MediaSession | None:
        session = self.sessions.pop(session_id, None)
        if session is not None:
            self.mixer.stop(session_id)
            self.recorders.stop(session_id)  # the call's service takes its file first (stop_recording)
            self._release(session)
            self.counters["sessions_closed"] += 1
            for leg in session.relay.legs.values():  # what the closed sessions took in and sent on
                self.counters["packets_in"] += leg.received.packets + leg.rtcp_packets
                self.counters["packets_out"] += leg.sent_packets
        return session

    def _release(self, session: MediaSession) -> None:
        self.player.stop_session(session.id)
        for browser in session.webrtc.values():
            browser.close()
        for sock in session.sockets.values():
            try:
                self.loop.remove_reader(sock.fileno())
            except (ValueError, OSError):
                pass
            sock.close()
        session.sockets.clear()
        for port in session.ports.values():
            self.pool.release(port)
        session.ports.clear()

    def shutdown(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for session_id in list(self.sessions):
            self.close(session_id)
        self.recorders.shutdown()
        self.mixer.shutdown()

    # --- the hot path -----------------------------------------------------------
    def _readable(self, sock: socket.socket, out: Sends, relay: RelaySession, leg: str, rtcp: bool,
                  session_id: str, tap: Tap | None, out_peer: Address | None, peer: Address | None) -> None:
        """A datagram on a party's socket, relayed.  ``peer``: the socket is connected to that
        phone and nothing else is queued (read without an address); ``out_peer``: where ``out``
        is connected (sent to without one)."""
        # One datagram per wake-up: a phone sends one packet per 20 ms, so a second read would
        # almost always fail (and a failed non-blocking read costs an exception).  The loop's
        # poll is level-triggered: a socket with more waiting is simply ready again next turn.
        # (uvloop's datagram transports were tried instead: twice the CPU per packet.)
        try:
            if peer is None:
                data, source = sock.recvfrom(2048)
                source = source[:2]
            else:
                data, source = sock.recv(2048), peer
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            _receive_failed(sock, exc)
            return
        destination = relay.on_packet(leg, source, data, self.loop.time(), rtcp=rtcp)
        if tap is not None and relay.legs[leg].latched == source:  # the leg's phone, not a stray
            tap(leg, data)
        if destination is not None:
            try:
                if destination == out_peer:
                    out.send(data)  # type: ignore[attr-defined]  # a socket: only a party's plain socket is connected
                else:
                    out.sendto(data, destination)
            except OSError:
                self.counters["send_failed"] += 1
        if relay.digits:
            self._keys(relay, session_id)

    def _readable_webrtc(self, browser: WebRtcLeg, out: Sends, out_rtcp: Sends, relay: RelaySession, leg: str,
                         session_id: str, tap: Tap | None) -> None:
        """A datagram on a browser's port: STUN and DTLS stay here; SRTP and SRTCP go on
        plain (the relay decides where, as for any leg)."""
        try:
            data, source = browser.sock.recvfrom(2048)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            _receive_failed(browser.sock, exc)
            return
        found = browser.peer
        got = browser.received(data, source[:2])
        now = self.loop.time()
        if browser.peer is not None and browser.peer != found:
            relay.legs[leg].announce(browser.peer, now)  # where ICE found it: as if its SDP had said so
        if got is None:
            return
        plain, rtcp = got
        destination = relay.on_packet(leg, source[:2], plain, now, rtcp=rtcp)
        if tap is not None and not rtcp:
            tap(leg, plain)
        if destination is not None:
            try:
                (out_rtcp if rtcp else out).sendto(plain, destination)
            except OSError:
                self.counters["send_failed"] += 1
        if relay.digits:
            self._keys(relay, session_id)

    def _heard(self, sock: socket.socket, relay: RelaySession, rtcp: bool, session_id: str, tap: Tap | None) -> None:
        """A packet on a supervisor's port: nothing is forwarded; its voice goes to the mixes."""
        try:
            data, source = sock.recvfrom(2048)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            _receive_failed(sock, exc)
            return
        if relay.hear(SUPERVISOR, source[:2], data, self.loop.time(), rtcp=rtcp) and tap is not None:
            tap(SUPERVISOR, data)
        if relay.digits:
            self._keys(relay, session_id)

    def _keys(self, relay: RelaySession, session_id: str) -> None:
        digits, relay.digits = relay.digits, []
        for pressed_on, key in digits:
            self.on_digit(session_id, pressed_on, key)

    # --- connected sockets ---------------------------------------------------------------
    def _settle(self, session: MediaSession, now: float) -> None:
        """At the sweep: connect a party's socket to the phone its leg latched and heard lately;
        read it without an address from the next sweep on; release it when the latch changed
        or the phone has been silent for ``relatch_after`` (it may be sending from elsewhere)."""
        changed = False
        relay = session.relay
        for leg in ("a", "b"):
            party, connected = relay.legs[leg], session.connected.get(leg)
            heard = party.last_seen is not None and now - party.last_seen < relay.relatch_after
            latched = party.latched if self.connects and heard and leg not in session.webrtc else None  # to connect to
            if connected is not None:
                if connected != latched:
                    changed |= self._unconnect(session, leg)
                elif leg not in session.trusted:
                    session.trusted.add(leg)
                    changed = True
            elif latched is not None:
                try:
                    session.sockets[(leg, False)].connect(latched)
                except OSError as exc:
                    log.debug("RTP socket of %s leg %s not connected to %s: %s", session.id, leg, latched, exc)
                    continue
                session.connected[leg] = latched
                changed = True
        if changed:
            self._retap(session)

    def _follow(self, session: MediaSession) -> None:
        """The relay's latches may have changed (a new SDP, a party gone): release at once a
        socket connected to where its leg no longer listens."""
        changed = False
        for leg, address in list(session.connected.items()):
            if session.relay.legs[leg].latched != address:
                changed |= self._unconnect(session, leg)
        if changed:
            self._retap(session)

    def _unconnect(self, session: MediaSession, leg: str) -> bool:
        """Dissolve the association of ``leg``'s RTP socket (connect(2) with AF_UNSPEC): it hears
        every source again.  False if it was not connected (or could not be released: tried again
        at the next sweep)."""
        if leg not in session.connected:
            return False
        if _LIBC.connect(session.sockets[(leg, False)].fileno(), _UNSPEC, ctypes.sizeof(_UNSPEC)) != 0:
            code = ctypes.get_errno()
            log.warning("RTP socket of %s leg %s not released: %s", session.id, leg, errno.errorcode.get(code, code))
            return False
        del session.connected[leg]
        session.trusted.discard(leg)
        return True

    # --- inactivity --------------------------------------------------------------------
    def _sweep(self) -> None:
        now = self.loop.time()
        for session in self.sessions.values():
            try:
                self._settle(session, now)
            except Exception:
                log.exception("connecting the RTP sockets of session %s failed", session.id)
        dead = [s.id for s in self.sessions.values() if s.active and s.relay.is_dead(now)]
        for session_id in dead:
            try:
                self.on_dead(session_id)
            except Exception:
                log.exception("hang-up of media-dead session %s failed", session_id)
        self._sweeper = self.loop.call_later(1.0, self._sweep)


def _specific(address: str) -> bool:
    """Whether ``address`` is one IP address (not the wildcard, not a name)."""
    try:
        return not ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False


def _receive_failed(sock: socket.socket, exc: OSError) -> None:
    """ICMP errors surface as receive errors on Linux (a phone gone): the socket lives on, and
    only something else is worth a line in the log."""
    if exc.errno not in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH):
        log.warning("RTP receive on %s failed: %s", sock.getsockname(), exc)
