"""A failure to an INVITE (the 407 challenge above all) stops being retransmitted once it is
acknowledged, however sloppily (issue 13 item 4, RFC 3261 §17.2.1, §17.2.3, §22.2):
(1) the ACK matched by its branch; (2) an ACK with a new branch matched by Call-ID, From tag,
To tag (our failure's) and CSeq number; (3) the authenticated retry, a new INVITE with the same
Call-ID and From tag and a higher CSeq.  An ACK that matches nothing is never answered and
never becomes a new request.  Time is stepped by hand."""

from __future__ import annotations

import pytest

from softswitch.sip.layer import AckReceived, LayerOutput, RequestReceived, TransactionLayer
from softswitch.sip.message import Request, parse_message
from softswitch.sip.transaction import (
    InviteServerTransaction,
    ServerTransaction,
    State,
    Target,
    TimerConfig,
    TransactionTerminated,
    TransactionTimedOut,
    Transmit,
)

from .sipmsg import request, response_to

UDP = Target("UDP", "127.0.0.1", 5062)
TCP = Target("TCP", "127.0.0.1", 5062, conn_id=7)
T = TimerConfig()
CHALLENGE_TAG = "c407"


def sends(outputs: list[LayerOutput]) -> list[bytes]:
    return [o.data for o in outputs if isinstance(o, Transmit)]


def challenged(layer: TransactionLayer, target: Target = UDP) -> tuple[InviteServerTransaction, bytes]:
    """INVITE (CSeq 1, branch z9hG4bK1) answered 407 at t=0."""
    inv = request("INVITE", branch="z9hG4bK1", cseq=1, transport=target.transport)
    (event,) = layer.receive_request(inv, target, 0.0)
    assert isinstance(event, RequestReceived) and isinstance(event.transaction, InviteServerTransaction)
    challenge = response_to(inv, 407, to_tag=CHALLENGE_TAG)
    (sent,) = sends(layer.respond(event.transaction, challenge, 0.0))
    return event.transaction, sent


def ack(branch: str, to_tag: str = CHALLENGE_TAG, cseq: int = 1, transport: str = "UDP") -> Request:
    return request("ACK", branch=branch, cseq=cseq, to_tag=to_tag, transport=transport)


def from_tag(req: Request, tag: str) -> Request:
    msg = parse_message(bytes(req).replace(b";tag=f1", f";tag={tag}".encode()))
    assert isinstance(msg, Request)
    return msg


def run_until(layer: TransactionLayer, end: float) -> list[LayerOutput]:
    out: list[LayerOutput] = []
    while (when := layer.get_timer()) is not None and when <= end:
        out += layer.handle_timer(when)
    return out


def assert_quiet_to_the_end(layer: TransactionLayer, tx: InviteServerTransaction, challenge: bytes, now: float) -> None:
    """No more 407s, no timeout reported, and the transaction gone after Timer I."""
    later = run_until(layer, now + 64 * T.t1)
    assert challenge not in sends(later)
    assert not any(isinstance(o, TransactionTimedOut) for o in later)
    assert tx.state is State.TERMINATED and tx.key not in layer.server
    assert layer._failed == {} and layer._failed_by_caller == {}


def test_1_ack_with_the_invites_branch_stops_the_407() -> None:
    layer = TransactionLayer()
    tx, challenge = challenged(layer)
    assert sends(layer.handle_timer(0.5)) == [challenge]  # Timer G, until the ACK
    assert layer.receive_request(ack("z9hG4bK1"), UDP, 0.6) == []
    assert tx.state is State.CONFIRMED
    assert layer.get_timer() == pytest.approx(0.6 + T.t4)  # Timer I
    assert_quiet_to_the_end(layer, tx, challenge, 0.6)


def test_2_ack_with_a_new_branch_matched_by_the_dialog_ids_stops_the_407() -> None:
    layer = TransactionLayer()
    tx, challenge = challenged(layer)
    sloppy = ack("z9hG4bKfresh")  # SIPp's [branch] in the ACK, some phones
    out = layer.receive_request(sloppy, UDP, 0.1)
    assert out == []  # not answered, not passed up (neither as a request nor as a 2xx ACK)
    assert tx.state is State.CONFIRMED
    assert layer.receive_request(ack("z9hG4bKfresh2"), UDP, 0.2) == []  # its retransmission: absorbed
    assert set(layer.server) == {tx.key}  # no transaction was made for either
    assert_quiet_to_the_end(layer, tx, challenge, 0.2)


@pytest.mark.parametrize("why,stray", [
    ("another To tag: the ACK of a 2xx", ack("z9hG4bKfresh", to_tag="other")),
    ("another CSeq", ack("z9hG4bKfresh", cseq=2)),
    ("another From tag", from_tag(ack("z9hG4bKfresh"), "f2")),
])
def test_an_ack_that_matches_no_failure_is_only_handed_up_as_an_ack(why: str, stray: Request) -> None:
    layer = TransactionLayer()
    tx, challenge = challenged(layer)
    out = layer.receive_request(stray, UDP, 0.1)
    assert out == [AckReceived(stray, UDP)], why  # the dialog's business; nobody answers an ACK
    assert not sends(out) and set(layer.server) == {tx.key}
    assert tx.state is State.COMPLETED and sends(layer.handle_timer(0.5)) == [challenge]


def test_3_the_authenticated_retry_supersedes_the_407() -> None:
    """§22.2: the UAC retries with credentials (same Call-ID and From tag, CSeq + 1) after
    its ACK, which here never arrived or matched: the 407 stops all the same."""
    layer = TransactionLayer()
    tx, challenge = challenged(layer)
    retry = request("INVITE", branch="z9hG4bK2", cseq=2, extra='Proxy-Authorization: Digest username="101"\r\n')
    out = layer.receive_request(retry, UDP, 0.3)
    (event,) = [o for o in out if isinstance(o, RequestReceived)]
    assert event.request is retry and event.transaction is not tx
    assert not sends(out)
    assert tx.state is State.CONFIRMED
    ok = response_to(retry, 200, to_tag="answered")
    assert sends(layer.respond(event.transaction, ok, 0.4)) == [bytes(ok)]
    later = run_until(layer, 0.4 + T.t4 + 0.01)
    assert challenge not in sends(later)
    assert tx.state is State.TERMINATED  # type: ignore[comparison-overlap]  # mypy keeps the narrowing above
    assert layer._failed == {} and layer._failed_by_caller == {}
    # A late ACK of the 407 (new branch, its tag) finds nothing: handed up as an ACK, where no
    # dialog has that tag; nothing is sent.
    late = ack("z9hG4bKlate")
    assert layer.receive_request(late, UDP, 10.0) == [AckReceived(late, UDP)]


@pytest.mark.parametrize("why,other", [
    ("the same CSeq (a merged request, §8.2.2.2)", request("INVITE", branch="z9hG4bK2", cseq=1)),
    ("a lower CSeq", request("INVITE", branch="z9hG4bK2", cseq=0)),
    ("another caller on the Call-ID", from_tag(request("INVITE", branch="z9hG4bK2", cseq=2), "f2")),
])
def test_other_invites_do_not_supersede(why: str, other: Request) -> None:
    layer = TransactionLayer()
    tx, challenge = challenged(layer)
    assert isinstance(layer.receive_request(other, UDP, 0.1)[-1], RequestReceived)
    assert tx.state is State.COMPLETED, why
    assert sends(layer.handle_timer(0.5)) == [challenge]


def test_a_retransmitted_invite_is_answered_with_the_407_not_superseding() -> None:
    layer = TransactionLayer()
    tx, challenge = challenged(layer)
    again = request("INVITE", branch="z9hG4bK1", cseq=1)
    assert sends(layer.receive_request(again, UDP, 0.2)) == [challenge]
    assert tx.state is State.COMPLETED


def test_over_tcp_the_retry_ends_the_failed_transaction_at_once() -> None:
    layer = TransactionLayer()
    tx, _ = challenged(layer, TCP)
    assert layer.get_timer() == pytest.approx(64 * T.t1)  # Timer H only: no retransmission on TCP
    retry = request("INVITE", branch="z9hG4bK2", cseq=2, transport="TCP")
    out = layer.receive_request(retry, TCP, 0.3)
    assert any(isinstance(o, TransactionTerminated) and o.transaction is tx for o in out)
    assert tx.key not in layer.server and layer._failed == {} and layer._failed_by_caller == {}
    assert [type(o) for o in out if not isinstance(o, TransactionTerminated)] == [RequestReceived]


def test_a_failure_that_timed_out_leaves_no_index_behind() -> None:
    layer = TransactionLayer()
    tx, _ = challenged(layer)
    out = run_until(layer, 64 * T.t1)
    assert any(isinstance(o, TransactionTimedOut) for o in out)  # Timer H: no ACK, no retry
    assert tx.state is State.TERMINATED and layer._failed == {} and layer._failed_by_caller == {}


def test_a_2xx_is_not_indexed_and_its_ack_goes_to_the_dialog() -> None:
    layer = TransactionLayer()
    inv = request("INVITE", branch="z9hG4bK1")
    (event,) = layer.receive_request(inv, UDP, 0.0)
    assert isinstance(event, RequestReceived)
    tx: ServerTransaction = event.transaction
    layer.respond(tx, response_to(inv, 200, to_tag="ok"), 0.0)
    assert layer._failed == {}
    two_xx_ack = ack("z9hG4bKnew", to_tag="ok")
    assert layer.receive_request(two_xx_ack, UDP, 0.1) == [AckReceived(two_xx_ack, UDP)]
