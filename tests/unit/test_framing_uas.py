"""Stream framing and the generic UAS checks."""

from __future__ import annotations

import pytest

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.framing import Frame, Ping, StreamFramer, TooLarge
from softswitch.sip.message import MessageError, Request, parse_message, too_large
from softswitch.sip.uas import check_request, stamp_via

from .sipmsg import request

ALLOWED = frozenset({"REGISTER", "OPTIONS", "ACK", "CANCEL", "BYE", "INVITE"})


def test_framer_splits_by_content_length_across_chunks() -> None:
    one = bytes(request("OPTIONS"))
    body_msg = one.replace(b"Content-Length: 0", b"Content-Length: 5") + b"hello"
    data = one + body_msg
    framer = StreamFramer()
    frames = []
    for i in range(0, len(data), 7):
        frames += framer.feed(data[i : i + 7])
    assert frames == [Frame(one), Frame(body_msg)]
    assert not framer.pending


def test_framer_ping_and_pong() -> None:
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n") == [Ping()]
    one = bytes(request())
    assert framer.feed(b"\r\n") == []  # a pong, or the start of a ping: wait
    assert framer.feed(one) == [Frame(one)]  # it was a pong
    assert framer.feed(b"\r\n\r\n" + one) == [Ping(), Frame(one)]


@pytest.mark.parametrize("cl", [b"Content-Length: -999", b"Content-Length: five", b"Content-Length: 13\r\nContent-Length: 5"])
def test_framer_rejects_bad_lengths(cl: bytes) -> None:
    data = bytes(request()).replace(b"Content-Length: 0", cl)
    with pytest.raises(RemoteProtocolError):
        StreamFramer().feed(data)


def test_framer_requires_content_length_and_caps_size() -> None:
    data = bytes(request()).replace(b"Content-Length: 0\r\n", b"")
    with pytest.raises(RemoteProtocolError):
        StreamFramer().feed(data)
    with pytest.raises(RemoteProtocolError):
        StreamFramer(max_size=2000).feed(b"X" * 3000)


def test_a_request_too_large_keeps_its_head_for_a_513() -> None:
    """RFC 3261 §21.5.14: over the size cap, a request whose header section came whole is still
    answered (513 Message Too Large), on a stream (before its body) and in a datagram."""
    head = bytes(request("MESSAGE")).replace(b"Content-Length: 0", b"Content-Length: 5000")
    with pytest.raises(TooLarge) as caught:
        StreamFramer(max_size=2000).feed(head + b"x" * 100)
    assert caught.value.head == head and caught.value.size == len(head) + 5000
    answer = too_large(caught.value.head, caught.value.size, 2000)
    assert answer.status_hint == 513 and answer.is_request
    assert [h.name for h in answer.headers][:2] == ["Via", "Max-Forwards"]
    datagram = head.replace(b"Content-Length: 5000", b"Content-Length: 3000") + b"x" * 3000
    with pytest.raises(MessageError) as refused:
        parse_message(datagram, max_size=2000)
    assert refused.value.status_hint == 513 and any(h.name == "Via" for h in refused.value.headers)
    with pytest.raises(MessageError) as headless:  # no end of the header section within the cap: nothing to answer
        parse_message(b"MESSAGE sip:a@b SIP/2.0\r\nVia: " + b"x" * 3000, max_size=2000)
    assert headless.value.status_hint == 513 and headless.value.headers == []


def test_a_message_trickling_in_is_sized_once_and_searched_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long header then a body a few octets at a time (a peer keeping the switch busy): the
    header is read for its Content-Length once, and searched for its end from where the last
    search stopped, not from the start at every segment."""
    import softswitch.sip.framing as framing

    sized: list[int] = []
    real = framing._content_length
    monkeypatch.setattr(framing, "_content_length", lambda head: sized.append(len(head)) or real(head))
    header = bytes(request()).replace(b"Content-Length: 0\r\n\r\n", b"Content-Length: 600\r\n" + b"a:b\r\n" * 3000 + b"\r\n")
    data = header + b"x" * 600 + bytes(request())
    framer, frames = StreamFramer(), []
    for i in range(0, len(data), 3):
        frames += framer.feed(data[i : i + 3])
    assert frames == [Frame(header + b"x" * 600), Frame(bytes(request()))]
    assert len(sized) == 2  # once per message


def test_framer_waits_for_the_rest_of_the_body() -> None:
    data = bytes(request()).replace(b"Content-Length: 0", b"Content-Length: 9999")
    framer = StreamFramer()
    assert framer.feed(data) == [] and framer.pending


def test_checks() -> None:
    assert check_request(request(), ALLOWED, frozenset()) is None
    unknown = parse_message(bytes(request("FOO")).replace(b"FOO sip", b"FOO sip"))
    assert isinstance(unknown, Request)
    resp = check_request(unknown, ALLOWED, frozenset())
    assert resp is not None and resp.status == 501 and resp.get("Allow")
    req = request(extra="Require: foo, 100rel\r\n")
    resp = check_request(req, ALLOWED, frozenset({"100rel"}))
    assert resp is not None and resp.status == 420 and resp.get("Unsupported") == "foo"
    sub = request("SUBSCRIBE")
    resp = check_request(sub, ALLOWED, frozenset())
    assert resp is not None and resp.status == 405


def test_stamp_via_rport() -> None:
    req = request()
    stamp_via(req, "192.0.2.9", 40000)
    top = req.vias[0]
    assert top.param("received") == "192.0.2.9" and top.param("rport") == "40000"
    assert parse_message(bytes(req)).vias[0].param("rport") == "40000"


def test_a_busy_connection_read_mid_message_every_time_is_not_closed_as_stuck() -> None:
    """A trunk's connection while the switch is behind: every read takes what is queued, the end
    of one message and the start of the next.  Whole messages keep coming, so the part waiting
    is never the 32 s "incomplete message" that closes a connection; a part that stays is."""
    from types import SimpleNamespace

    from softswitch.sip.transport.stream import ConnectionPool, StreamConnection

    clock = [1000.0]
    got: list[bytes] = []
    pool = ConnectionPool(SimpleNamespace(time=lambda: clock[0]), lambda data, conn: got.append(data),  # type: ignore[arg-type]
                          lambda conn: None, idle_timeout=900, max_message_size=65535, incomplete_timeout=32)
    conn = StreamConnection("TCP", pool)
    closed: list[bool] = []
    conn.connection_made(SimpleNamespace(get_extra_info=lambda name: ("192.0.2.9", 5060), close=lambda: closed.append(True),
                                         abort=lambda: closed.append(True), is_closing=lambda: False,
                                         write=lambda data: None))  # type: ignore[arg-type]
    one = bytes(request())
    stream = one * 60
    for i, start in enumerate(range(0, len(stream), len(one) + 11)):  # a second apart, each mid-message
        clock[0] = 1000.0 + i
        conn.data_received(stream[start : start + len(one) + 11])
        pool.sweep()
    assert len(got) == 60 and not closed
    clock[0] += 1
    conn.data_received(one[:20])  # the start of one more, and nothing after it: stuck after 32 s
    clock[0] += 33
    pool.sweep()
    assert closed


def test_a_banned_source_s_new_connection_is_closed_at_once() -> None:
    from types import SimpleNamespace

    from softswitch.sip.transport.stream import ConnectionPool, StreamConnection

    pool = ConnectionPool(SimpleNamespace(time=lambda: 1000.0), lambda data, conn: None, lambda conn: None,  # type: ignore[arg-type]
                          idle_timeout=900, max_message_size=65535, refuse=lambda host: host == "203.0.113.66")
    for host in ("203.0.113.66", "192.0.2.9"):
        closed: list[bool] = []
        StreamConnection("TCP", pool).connection_made(SimpleNamespace(  # type: ignore[arg-type]
            get_extra_info=lambda name, host=host: (host, 5060), close=lambda closed=closed: closed.append(True)))
        assert closed == ([True] if host == "203.0.113.66" else [])
    assert len(pool.connections) == 1 and pool.counters["refused"] == 1


def test_connections_to_one_peer_are_found_while_any_is_open() -> None:
    """Two connections with the same peer (one per listener of a transport, or a port reused):
    closing the newer leaves the older to be found, and closing both leaves nothing behind."""
    from types import SimpleNamespace

    from softswitch.sip.transport.stream import ConnectionPool, StreamConnection

    pool = ConnectionPool(SimpleNamespace(time=lambda: 1000.0), lambda data, conn: None, lambda conn: None,  # type: ignore[arg-type]
                          idle_timeout=900, max_message_size=65535)
    older, newer = StreamConnection("TCP", pool), StreamConnection("TCP", pool)
    for conn in (older, newer):
        conn.connection_made(SimpleNamespace(get_extra_info=lambda name: ("192.0.2.9", 5060)))  # type: ignore[arg-type]
    assert pool.to_peer("TCP", "192.0.2.9", 5060) is newer and pool.per_source == {"192.0.2.9": 2}
    newer.connection_lost(None)
    assert pool.to_peer("TCP", "192.0.2.9", 5060) is older and pool.to_peer("TLS", "192.0.2.9", 5060) is None
    older.connection_lost(None)
    assert pool.by_peer == {} and pool.per_source == {} and pool.connections == {}
