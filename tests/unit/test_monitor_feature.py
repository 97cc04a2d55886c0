"""A supervisor on an agent's call (b2bua/monitor.py): who may, the answer on the third port
pair, keys switching the mode, the history, and the ways it ends."""

from __future__ import annotations

from softswitch.b2bua.actions import Announce, BindDialog, CallEnded, Respond, SendRequest, SetMedia, Supervise
from softswitch.b2bua.call import Call
from softswitch.b2bua.monitor import Monitor, supervises, wanted
from softswitch.b2bua.parking import CallPark
from softswitch.sdp.model import parse_sdp
from softswitch.sdp.offer_answer import RelayPorts
from softswitch.sip.message import Request, parse_message
from softswitch.sip.transaction import Target

from .test_call_core import Tx, answered_call, in_dialog, of, responses, sdp
from .test_call_park import refer

M_SRC = Target("UDP", "192.0.2.40", 5090)
CODES = {"*221": "listen", "*222": "whisper", "*223": "barge"}
KEYS = {"4": "listen", "5": "whisper", "6": "barge"}


def supervisor_request(method: str, cseq: int, body: bytes = b"", to_tag: str = "") -> Request:
    head = (
        f"{method} sip:*221102@acme.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.40:5090;branch=z9hG4bKm{cseq}\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:105@acme.example>;tag=sup\r\n"
        f"To: <sip:*221102@acme.example>{';tag=' + to_tag if to_tag else ''}\r\n"
        f"Call-ID: m-call@phone\r\nCSeq: {cseq} {method}\r\nContact: <sip:105@192.0.2.40:5090>\r\n"
        + ("Content-Type: application/sdp\r\n" if body else "") + f"Content-Length: {len(body)}\r\n\r\n"
    )
    msg = parse_message(head.encode() + body)
    assert isinstance(msg, Request)
    return msg


def test_the_codes_and_who_may_use_them() -> None:
    assert wanted("*221102", CODES) == ("listen", "102") and wanted("*223102", CODES) == ("barge", "102")
    assert wanted("*221", CODES) is None and wanted("*2211a", CODES) is None and wanted("102", CODES) is None
    groups = {"600": ["105", "106"]}
    members = lambda n: groups.get(n, [])  # noqa: E731
    assert supervises("105", ["600"], members) and supervises("107", ["107"], members)
    assert not supervises("107", ["600", "108"], members) and not supervises("105", [], members)


def monitored(mode: str = "listen", *, beep: bool = False) -> tuple[Call, Monitor, str, list]:  # type: ignore[type-arg]
    call, _, _ = answered_call()
    call.on_ack("a", in_dialog(call, "a", "ACK", 2), 1002.1)
    call.extensions.update(a="101", b="102")  # as the service says who is on each leg
    feature = call.add(Monitor("105", "b", mode, KEYS, beep=beep))  # type: ignore[arg-type]
    out = feature.join(call, supervisor_request("INVITE", 1, sdp("192.0.2.40", 7000)), Tx("m"), M_SRC,
                       RelayPorts(10004, 10005), 1010.0)
    (ok,) = responses(out)
    assert ok.to.tag is not None
    return call, feature, ok.to.tag, out


def test_the_supervisor_is_answered_on_the_third_port_pair_and_heard_only_as_the_mode_says() -> None:
    call, _, tag, out = monitored()
    (ok,) = responses(out)
    assert ok.status == 200 and parse_sdp(ok.body).media[0].line.port == 10004
    assert BindDialog(("m-call@phone", tag), "m") in out
    assert SetMedia("m", ("192.0.2.40", 7000), 101) in out
    assert of(out, Supervise) == [Supervise("listen", (("m", 0),))]
    assert of(out, Announce) == []  # no indication to the agent by default
    assert call.get_timer() is not None  # the 200 is sent again until its ACK
    assert call.on_ack("m", supervisor_request("ACK", 1, to_tag=tag), 1010.1) == []
    assert "m" not in call.unacked
    party = call.record.parties[-1]
    assert (party.who, party.role, party.joined, party.by, party.left) == ("105", "listen", call.wall(1010.0), "102", None)


def test_keys_switch_the_mode_and_each_mode_is_a_party_of_the_history() -> None:
    call, _, tag, _ = monitored()
    assert call.on_key("m", "5", 1012.0) == [Supervise("whisper")]
    assert call.on_key("m", "5", 1012.5) == []  # already whispering
    assert call.on_key("m", "9", 1012.6) == []  # not a mode key: nothing, and nobody else's business
    info = supervisor_request("INFO", 2, to_tag=tag)
    info = parse_message(bytes(info).replace(b"Content-Length: 0", b"Content-Type: application/dtmf-relay\r\nContent-Length: 19") + b"Signal=6\r\nDuration=160")
    assert isinstance(info, Request)
    out = call.on_request("m", Tx("info"), info, 1014.0)
    assert [r.status for r in responses(out)] == [200] and of(out, Supervise) == [Supervise("barge")]
    roles = [(p.role, p.joined, p.left) for p in call.record.parties if p.who == "105"]
    assert roles == [("listen", call.wall(1010.0), call.wall(1012.0)), ("whisper", call.wall(1012.0), call.wall(1014.0)),
                     ("barge", call.wall(1014.0), None)]
    assert Supervise("listen") not in (call.on_key("b", "4", 1015.0) or [])  # the agent's keys are not the supervisor's


def test_the_supervisor_hanging_up_leaves_the_call_as_it_was() -> None:
    call, _, tag, _ = monitored("whisper")
    out = call.on_request("m", Tx("bye"), supervisor_request("BYE", 3, to_tag=tag), 1020.0)
    assert [r.status for r in responses(out)] == [200] and of(out, Supervise) == [Supervise(None)]
    assert of(out, CallEnded) == [] and call.others["m"] is None and call.b is not None
    assert call.record.parties[-1].left == call.wall(1020.0)
    again = call.on_request("m", Tx("bye2"), supervisor_request("BYE", 4, to_tag=tag), 1020.5)
    assert [r.status for r in responses(again)] == [481]
    # The parties talk on: the agent's BYE ends the call and nothing is sent to the supervisor.
    out = call.on_request("b", Tx("bye-b"), in_dialog(call, "b", "BYE", 9), 1030.0)
    assert of(out, CallEnded) and of(out, Supervise) == []


def test_the_calls_end_or_the_agent_leaving_sends_the_supervisor_a_bye() -> None:
    call, _, _, _ = monitored()
    assert call.b is not None
    agent_call_id = call.b.call_id
    out = call.on_request("a", Tx("bye-a"), in_dialog(call, "a", "BYE", 9), 1030.0)
    assert sorted(s.request.call_id for s in of(out, SendRequest) if s.request.method == "BYE") == sorted([agent_call_id, "m-call@phone"])
    assert Supervise(None) in out and of(out, CallEnded)
    assert all(p.left is not None for p in call.record.parties)

    call, _, _, _ = monitored()
    park = call.feature(CallPark)
    assert park is not None
    call.on_request("b", Tx("refer"), refer(call, "b", 5), 1040.0)
    park.accepted(call)
    out = park.parked(call, "*801", 1340.0, "102", 1040.5)  # the agent parked its caller: it leaves, and so does the supervisor
    assert Supervise(None) in out and "m-call@phone" in [s.request.call_id for s in of(out, SendRequest) if s.request.method == "BYE"]
    assert [p.left for p in call.record.parties if p.who == "105"] == [call.wall(1040.5)]


def test_a_beep_tells_the_agent_when_the_account_says_so() -> None:
    _, _, _, out = monitored(beep=True)
    assert of(out, Announce) == [Announce("b", ("beep",), 0)]


def test_an_offer_the_switch_cannot_answer_is_refused_and_the_ports_let_go() -> None:
    call, _, _ = answered_call()
    feature = call.add(Monitor("105", "b", "listen", KEYS))
    g729 = sdp("192.0.2.40", 7000).replace(b"RTP/AVP 0 8 18 101", b"RTP/AVP 18")
    out = feature.join(call, supervisor_request("INVITE", 1, g729), Tx("m"), M_SRC, RelayPorts(10004, 10005), 1010.0)
    assert [r.status for r in responses(out)] == [488] and of(out, Supervise) == [Supervise(None)] and not feature.on
    assert of(out, Respond)[0].response.to.tag is not None


def test_a_supervisor_that_never_acks_is_let_go_and_the_call_goes_on() -> None:
    call, _, _, _ = monitored()
    out = call.handle_timer(1010.0 + 64 * 0.5)  # 64 x T1 without the supervisor's ACK
    assert Supervise(None) in out and of(out, CallEnded) == []
    assert [s.request.call_id for s in of(out, SendRequest) if s.request.method == "BYE"] == ["m-call@phone"]
    assert call.others["m"] is None and call.b is not None and "m" not in call.unacked


def test_the_supervisor_hanging_up_while_the_agent_is_parked_does_not_end_the_call() -> None:
    """The caller (a) parks the agent (b): the agent stays, so does its supervisor; the
    supervisor's BYE is its own, not the parked party's."""
    call, _, tag, _ = monitored()
    call.on_ack("m", supervisor_request("ACK", 1, to_tag=tag), 1010.1)
    park = call.feature(CallPark)
    assert park is not None
    call.on_request("a", Tx("refer"), refer(call, "a", 5), 1040.0)
    park.accepted(call)
    out = park.parked(call, "*801", 1340.0, "101", 1040.5)
    assert Supervise(None) not in out  # the caller left, not the agent
    out = call.on_request("m", Tx("bye"), supervisor_request("BYE", 3, to_tag=tag), 1050.0)
    assert [r.status for r in responses(out)] == [200] and of(out, Supervise) == [Supervise(None)]
    assert of(out, CallEnded) == [] and of(out, SendRequest) == []
