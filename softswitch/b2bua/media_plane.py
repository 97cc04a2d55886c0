"""Which media plane a call rings on when rtpengine is the switch's (``media.engine``).

rtpengine relays a two-party call; the switch's own relay also hears and speaks into one.
A call stays on the relay when, from before it rings, the switch may have to do either:
record it, let a member confirm with a key, answer it itself, or terminate a browser's
WebRTC (DTLS-SRTP, which the relay does and the calls given to rtpengine do not).  A caller
who ends up in a mailbox or a menu is moved to the relay then (the B2BUA's service does it).
Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..sdp.model import SessionDescription
from ..sdp.offer_answer import relayed_stream
from .actions import Stage


def stays_on_relay(offer: SessionDescription | None, stages: Sequence[Stage], *, browser_caller: bool,
                   websocket: bool, records: bool) -> str | None:
    """Why a call about to ring ``stages`` stays on the switch's relay, or None for rtpengine.
    ``websocket``: the switch takes browser phones (any of them may take a leg later);
    ``records``: its account records calls (any extension, group or hotline may)."""
    index = relayed_stream(offer) if offer is not None else None
    if offer is None or index is None:
        return "no offer to give rtpengine"
    if offer.media[index].line.proto.upper() != "RTP/AVP" or browser_caller:
        return "a browser's leg"
    if not any(stage.devices for stage in stages):
        return "nobody to ring"
    if any(stage.confirm for stage in stages):
        return "a member confirms with a key and a prompt"
    if websocket:
        return "browser phones may take a leg (the switch listens on WebSocket)"
    if records:
        return "the account records calls"
    return None
