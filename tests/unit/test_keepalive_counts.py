"""Keep-alive pings (registrar/keepalive.py): an unanswered ping counts against its flow until
the flow answers, dies, or is no longer one to keep alive (its phone moved): then its count goes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from softswitch.registrar.keepalive import KeepaliveService
from softswitch.sip.transaction import Target


def test_the_count_of_a_flow_no_longer_kept_alive_is_forgotten() -> None:
    flows = {Target("UDP", "192.0.2.7", 5060): SimpleNamespace(uri="sip:101@192.0.2.7:5060")}
    asked: list[Any] = []
    registrar = SimpleNamespace(keepalive_flows=lambda: flows, flow_dead=lambda flow: None,
                                config=SimpleNamespace(keepalive=SimpleNamespace(failures=2),
                                                       default_account=SimpleNamespace(domain="acme.example")))
    endpoint = SimpleNamespace(send_request=lambda request, flow, answered: asked.append(answered),
                               send_raw=lambda flow, data: None, via_address=lambda transport: ("127.0.0.1", 5060),
                               new_via=lambda transport: "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKka")
    service = KeepaliveService(registrar, endpoint, user_agent="test", new_id=lambda: "x")  # type: ignore[arg-type]
    assert service.send_round() == 1
    asked.pop()(None)  # no answer: one failure
    assert service._failures == {Target("UDP", "192.0.2.7", 5060): 1}
    flows.clear()  # the phone re-registered from another port
    flows[Target("UDP", "192.0.2.7", 5071)] = SimpleNamespace(uri="sip:101@192.0.2.7:5071")
    assert service.send_round() == 1
    assert service._failures == {}
