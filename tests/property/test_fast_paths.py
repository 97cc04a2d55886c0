"""The regex fast paths for Via and name-addr agree with the full-grammar scanner."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.headers import parse_name_addr, parse_via_list, scan_name_addr, scan_via_list
from softswitch.sip.message import MessageError, parse_message

from ..golden.corpus import CASES


def outcome(fn, *args):  # type: ignore[no-untyped-def]
    try:
        return ("ok", fn(*args))
    except RemoteProtocolError:
        return ("error", None)


def corpus_values(keys: tuple[str, ...]) -> list[str]:
    values = []
    for case in CASES:
        try:
            msg = parse_message(case.data)
        except MessageError:
            continue
        values += [h.value for h in msg.headers if h.key in keys]
    return values


VIAS = corpus_values(("via",)) + ["SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx;rport", "SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bKy",
                                  "SIP/2.0/UDP h:99999;branch=z9hG4bKz"]
ADDRS = corpus_values(("from", "to", "contact")) + ['"Bob" <sip:bob@b.example>;tag=1', "Alice Smith <sips:a@[::1]:5061>",
                                                     "<sip:x@y;transport=tcp>;expires=60;+sip.instance=x", '"" <sip:z@q>']


def test_corpus_and_known_values_agree() -> None:
    for value in VIAS:
        assert outcome(parse_via_list, value) == outcome(scan_via_list, value), value
    for value in ADDRS:
        if "," in value or value.strip() == "*":
            continue
        assert outcome(parse_name_addr, value, "X") == outcome(scan_name_addr, value, "X"), value


PIECES = st.sampled_from(["SIP/2.0/UDP", "SIP/2.0/tcp", " ", "host.example", "[::1]", ":5060", ":70000", ";branch=z9hG4bK1",
                          ";rport", ";received=1.2.3.4", ";x=[::1]", ";", "=", '"', "<sip:a@b>", "<sips:c@d:5>", '"N"', "Name",
                          ";tag=t", ",", "\\", "sip:e@f", "\t", "%41"])


@settings(max_examples=3000, deadline=None)
@given(st.lists(PIECES, min_size=1, max_size=8))
def test_random_values_agree(parts: list[str]) -> None:
    value = "".join(parts)
    assert outcome(parse_via_list, value) == outcome(scan_via_list, value), value
    assert outcome(parse_name_addr, value, "X") == outcome(scan_name_addr, value, "X"), value
