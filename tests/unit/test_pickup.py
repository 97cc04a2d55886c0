"""Pick-up of a ringing call in the pure call core: the picker becomes leg B, both phones are
answered by the switch on one common codec, the forks still ringing are cancelled, and the
history names the picker."""

from __future__ import annotations

from softswitch.b2bua import pickup
from softswitch.b2bua.actions import BindDialog, Phase, SendRequest, SetMedia
from softswitch.sdp.model import parse_sdp
from softswitch.sip.message import Request, parse_message
from softswitch.sip.transaction import Target

from .test_call_core import COMPLETED_ELSEWHERE, Tx, answer_to, answered_call, fork_invites, new_call, of, responses

C_SRC = Target("UDP", "192.0.2.30", 5090)
PCMA_ONLY = (
    b"v=0\r\no=- 7 7 IN IP4 192.0.2.30\r\ns=-\r\nc=IN IP4 192.0.2.30\r\nt=0 0\r\n"
    b"m=audio 7000 RTP/AVP 8 96\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:96 telephone-event/8000\r\na=sendrecv\r\n"
)


def picker_invite(body: bytes, dialled: str = "*8") -> Request:
    head = (
        f"INVITE sip:{dialled}@acme.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.30:5090;branch=z9hG4bKp1\r\n"
        "Max-Forwards: 70\r\nFrom: \"Carol\" <sip:103@acme.example>;tag=carol\r\n"
        f"To: <sip:{dialled}@acme.example>\r\nCall-ID: p-call@phone\r\nCSeq: 1 INVITE\r\n"
        "Contact: <sip:103@192.0.2.30:5090>\r\nUser-Agent: Yealink T54W\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    msg = parse_message(head.encode() + body)
    assert isinstance(msg, Request)
    return msg


def test_a_ringing_call_is_answered_by_the_picker_on_a_codec_both_phones_have() -> None:
    call, a_tx, out = new_call(devices=2)
    f0, f1 = fork_invites(out)
    call.on_response(f0.ref, answer_to(f0.request, 180, "t0"), 1001.0)  # one fork rings, the other not yet
    assert pickup.ringing(call) and pickup.rung(call) == []  # unnamed devices: no extension to pick up for
    out = pickup.pick_up(call, picker_invite(PCMA_ONLY), Tx("p"), C_SRC, "103", "102", 1003.0)
    statuses = [(r.status, r.call_id) for r in responses(out)]
    assert statuses == [(100, "p-call@phone"), (200, "p-call@phone"), (200, "a-call@phone")]
    to_picker, to_caller = responses(out)[1:]
    # The caller offered PCMU and PCMA, the picker only PCMA: both are answered with PCMA.
    assert parse_sdp(to_picker.body).media[0].line.formats == ("8", "96")
    assert parse_sdp(to_picker.body).media[0].line.port == 10002
    assert parse_sdp(to_caller.body).media[0].line.formats == ("8", "101")
    assert parse_sdp(to_caller.body).media[0].line.port == 10000
    assert to_picker.get("P-Asserted-Identity") == "Reception <sip:101@acme.example>"
    assert to_caller.get("P-Asserted-Identity") == "Carol <sip:103@acme.example>"
    assert SetMedia("b", ("192.0.2.30", 7000), 96) in out and of(out, BindDialog)[0].leg == "b"
    cancels = [s.request for s in of(out, SendRequest) if s.request.method == "CANCEL"]
    assert len(cancels) == 1 and cancels[0].get("Reason") == COMPLETED_ELSEWHERE  # the ringing fork; the other on its 1xx
    assert call.phase is Phase.ANSWERED and call.extensions["b"] == "103"
    rec = call.record
    assert (rec.answered, rec.answered_by, rec.callee_device) == (1003.0, "103", "Yealink T54W")
    assert [(p.who, p.role, p.by) for p in rec.parties] == [("101", "caller", None), ("103", "pick-up", "102")]
    # A fork answering after all is too late: ACKed and hung up.
    late = call.on_response(f1.ref, answer_to(f1.request, 200, "t1", PCMA_ONLY), 1003.5)
    assert [s.request.method for s in of(late, SendRequest)] == ["BYE"]
    assert call.b is not None and call.b.call_id == "p-call@phone"


def test_a_call_no_longer_ringing_or_without_a_common_codec_is_refused() -> None:
    call, _, _ = answered_call()
    (gone,) = responses(pickup.pick_up(call, picker_invite(PCMA_ONLY), Tx("p"), C_SRC, "103", "102", 1003.0))
    assert gone.status == 481
    ringing, _, _ = new_call()
    g729 = PCMA_ONLY.replace(b"RTP/AVP 8 96", b"RTP/AVP 18 96").replace(b"a=rtpmap:8 PCMA/8000", b"a=rtpmap:18 G729/8000")
    (refused,) = responses(pickup.pick_up(ringing, picker_invite(g729), Tx("p"), C_SRC, "103", "102", 1003.0))
    assert refused.status == 488 and ringing.phase is Phase.RINGING
