"""RFC 3261 §10.3 steps 6-7 against the real switch: a late ``Contact: *`` is refused, not obeyed.

SIPp registers 102 and then, on the same Call-ID, sends ``Contact: *``/``Expires: 0`` with a
lower CSeq (both digest-authenticated): the switch must answer ``500`` and keep the binding (a
``200`` would tell the phone it is unregistered while calls still reach it).  A removal with a
higher CSeq on that Call-ID then works.
"""

from __future__ import annotations

import subprocess
import uuid

from .harness import Switch, free_port, register

PHONE = ("102", "acme-102-secret")
OTHER = ("103", "acme-103-secret")


def rows_for(switch: Switch, ext: str) -> list[dict[str, str]]:
    return [r for r in switch.registrations("acme") if r["EXT"] == ext]


def test_stale_unregister_all_is_500_and_keeps_the_binding(switch: Switch) -> None:
    cid = f"stale-{uuid.uuid4().hex}@127.0.0.1"  # -cid_str: both SIPp runs use this one Call-ID
    phone_port = free_port()
    # Register (CSeq 11) -> 200; Contact: * with CSeq 5 -> 500 (a 200 there is an unexpected
    # message and fails the scenario); a fetch-bindings REGISTER (CSeq 7) -> 200 still listing it.
    stale = switch.sipp("register_star_stale.xml", "-cid_str", cid, users=[PHONE], domain="acme.example",
                        local_port=phone_port)
    assert isinstance(stale, subprocess.CompletedProcess)
    assert stale.returncode == 0, stale.stdout[-3000:] + stale.stderr[-3000:]

    # The store is written behind, in order: once a later registration (103) is there, a
    # removal of 102 queued by the stale request would be there too.
    register(switch, *OTHER, port=free_port())
    switch.wait_for(lambda: rows_for(switch, OTHER[0]), what="103 registered (store barrier)")
    (row,) = rows_for(switch, PHONE[0])
    assert row["CONTACT"] == f"sip:102@127.0.0.1:{phone_port};transport=UDP"
    assert row["SOURCE"] == f"127.0.0.1:{phone_port}" and row["TRANSPORT"] == "UDP"
    assert 3500 <= int(row["EXPIRES"].rstrip("s")) <= 3600
    assert "unregistered" not in switch.log()

    # The same Call-ID with a higher CSeq (21 > 11) removes it; 103 (another AoR) stays.
    gone = switch.sipp("unregister_all.xml", "-cid_str", cid, users=[PHONE], domain="acme.example",
                       local_port=free_port())
    assert isinstance(gone, subprocess.CompletedProcess)
    assert gone.returncode == 0, gone.stdout[-3000:] + gone.stderr[-3000:]
    switch.wait_for(lambda: not rows_for(switch, PHONE[0]), what="102's binding removed")
    assert rows_for(switch, OTHER[0])
