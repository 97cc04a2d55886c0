"""BLF on extensions with SIPp phones (SPEC "Transfers, pick-up and presence"; RFC 6665, RFC 4235):
103's BLF key on 102 sees it idle, ringing (with the caller, as a pick-up needs it), talking and
idle again while 101 calls 102; a phone of another account, or a number the account does not
have, is refused alike."""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from .harness import Switch, admin, free_port, register

NS = "{urn:ietf:params:xml:ns:dialog-info}"


def popen(proc: object) -> subprocess.Popen[str]:
    assert isinstance(proc, subprocess.Popen)
    return proc


def finish(proc: subprocess.Popen[str]) -> None:
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-2500:]


def subscription_state(switch: Switch) -> str | None:
    subs = admin(switch, "subscriptions")
    return subs[0]["state"] if subs else None


def notified(log: Path) -> list[ET.Element]:
    """The dialog-info documents the subscriber received, in order."""
    text = log.read_text(errors="replace")
    docs = []
    for chunk in re.split(r"message received \[\d+\] bytes :", text)[1:]:
        if chunk.lstrip().startswith("NOTIFY "):
            found = re.search(r"<dialog-info.*?</dialog-info>", chunk, re.S)
            assert found is not None, chunk
            docs.append(ET.fromstring(found.group(0)))
    return docs


def lamp(doc: ET.Element) -> str:
    states = {d.findtext(f"{NS}state") for d in doc.iter(f"{NS}dialog")}
    return "early" if "early" in states else "confirmed" if "confirmed" in states else "terminated"


def test_a_blf_key_on_an_extension_sees_it_ring_talk_and_hang_up(switch: Switch) -> None:
    desk = free_port()
    register(switch, "102", "acme-102-secret", desk)
    log = switch.workdir / "lamp-messages.log"
    key = popen(switch.sipp("blf_extension_watch.xml", "-key", "watched", "102", "-key", "watched_domain", "acme.example",
                            "-au", "103", "-ap", "acme-103-secret", "-trace_msg", "-message_file", str(log),
                            users=[("103", "-")], domain="acme.example", background=True, timeout=60))
    (sub,) = switch.wait_for(lambda: admin(switch, "subscriptions"), what="the BLF subscription")
    assert (sub["account"], sub["kind"], sub["watched"]) == ("acme", "extension", "102")
    switch.wait_for(lambda: subscription_state(switch) == "terminated", what="102 shown idle")

    callee = popen(switch.sipp("callee_answer_after.xml", "-mp", str(free_port()), "-d", "2500", domain="acme.example",
                               local_port=desk, background=True, timeout=40))
    caller = popen(switch.sipp("call_caller.xml", "-s", "102", "-au", "101", "-ap", "acme-101-secret", "-mp", str(free_port()),
                               "-d", "2000", users=[("101", "-")], domain="acme.example", background=True, timeout=40))
    switch.wait_for(lambda: subscription_state(switch) == "early", what="102 shown ringing")
    switch.wait_for(lambda: subscription_state(switch) == "confirmed", timeout=15, what="102 shown on a call")
    finish(caller)
    finish(callee)
    finish(key)  # it saw confirmed and then terminated, and unsubscribed

    by_version = {int(doc.get("version", "-1")): doc for doc in notified(log)}  # a retransmission is one NOTIFY
    docs = [by_version[v] for v in sorted(by_version)]
    assert sorted(by_version) == list(range(len(docs)))
    lamps = [lamp(doc) for doc in docs]
    shown = [state for i, state in enumerate(lamps) if i == 0 or state != lamps[i - 1]]
    assert shown == ["terminated", "early", "confirmed", "terminated"], lamps
    # Notified on a change only (the 180 after the INVITE, the ACK after the 200 say nothing new);
    # the last one is the unsubscribe's final NOTIFY.
    assert lamps[:-1] == shown, lamps
    assert {doc.get("state") for doc in docs} == {"full"} and {doc.get("entity") for doc in docs} == {"sip:102@acme.example"}

    # Ringing: 102 is the recipient of a call from 101, with the early dialog's Call-ID and the
    # switch's tag, so a BLF key can pick the call up.
    (ringing,) = docs[lamps.index("early")].iter(f"{NS}dialog")
    assert ringing.get("direction") == "recipient" and ringing.get("call-id") and ringing.get("remote-tag")
    assert ringing.findtext(f"{NS}remote/{NS}identity") == "sip:101@acme.example"
    assert ringing.find(f"{NS}remote/{NS}identity").get("display") == "Caller"  # type: ignore[union-attr]
    assert ringing.findtext(f"{NS}local/{NS}identity") == "sip:102@acme.example"
    # On the call: the same dialog, confirmed, now with the phone's tag too.
    (talking,) = docs[lamps.index("confirmed")].iter(f"{NS}dialog")
    assert talking.get("id") == ringing.get("id") and talking.get("direction") == "recipient"
    assert talking.get("local-tag") and talking.findtext(f"{NS}remote/{NS}identity") == "sip:101@acme.example"
    assert "Subscription-State: terminated" in log.read_text(errors="replace").rsplit("NOTIFY sip:", 1)[1]
    assert admin(switch, "subscriptions") == []


def test_another_accounts_phone_and_an_unknown_number_are_refused_alike(switch: Switch) -> None:
    def refused(watched: str, user: str, password: str, domain: str) -> None:
        result = switch.sipp("blf_refused.xml", "-key", "slot", watched, "-key", "slotdomain", "acme.example",
                             "-au", user, "-ap", password, users=[(user, "-")], domain=domain, timeout=30)
        assert isinstance(result, subprocess.CompletedProcess)
        assert result.returncode == 0, result.stdout[-2500:]  # 404 after the digest, nothing else

    refused("102", "101", "globex-101-secret", "globex.example")  # acme's 102 watched from globex
    refused("199", "104", "acme-104-secret", "acme.example")  # acme has no 199
    assert admin(switch, "subscriptions") == []


def test_blf_keys_follow_a_renumbered_extension_and_end_when_it_or_their_phone_is_stopped(switch: Switch) -> None:
    def cli(*args: str) -> None:
        out = switch.cli(*args, "--account", "acme", "--config", str(switch.config_path))
        assert out.returncode == 0 and "applied to the running switch" in out.stdout, out.stdout + out.stderr

    def key(subscriber: str, watched: str) -> tuple[subprocess.Popen[str], Path]:
        log = switch.workdir / f"key-{subscriber}.log"
        proc = popen(switch.sipp("blf_until_ended.xml", "-key", "watched", watched, "-key", "watched_domain", "acme.example",
                                 "-au", subscriber, "-ap", f"acme-{subscriber}-secret", "-trace_msg", "-message_file", str(log),
                                 users=[(subscriber, "-")], domain="acme.example", background=True, timeout=60))
        return proc, log

    def watched() -> dict[str, str]:
        return {s["watched"]: s["state"] for s in admin(switch, "subscriptions")}

    on_102, log_102 = key("103", "102")
    on_101, log_101 = key("104", "101")
    switch.wait_for(lambda: watched() == {"102": "terminated", "101": "terminated"}, what="both keys subscribed")

    # 102 becomes 152: the key on 102 now shows 152's calls.
    cli("extensions", "change", "102", "152")
    assert watched() == {"152": "terminated", "101": "terminated"}
    desk = free_port()
    register(switch, "152", "acme-102-secret", desk)
    callee = popen(switch.sipp("callee_answer_after.xml", "-mp", str(free_port()), "-d", "1500", domain="acme.example",
                               local_port=desk, background=True, timeout=40))
    caller = popen(switch.sipp("call_caller.xml", "-s", "152", "-au", "101", "-ap", "acme-101-secret", "-mp", str(free_port()),
                               "-d", "1000", users=[("101", "-")], domain="acme.example", background=True, timeout=40))
    switch.wait_for(lambda: watched().get("152") == "confirmed", timeout=15, what="the renumbered 152 shown on a call")
    finish(caller)
    finish(callee)

    # 152 stopped: what its key watches is gone for good. 104 stopped: its own key may no longer watch.
    cli("extensions", "stop", "152")
    finish(on_102)
    assert "Subscription-State: terminated;reason=noresource" in log_102.read_text(errors="replace")
    cli("extensions", "stop", "104")
    finish(on_101)
    assert "Subscription-State: terminated;reason=rejected" in log_101.read_text(errors="replace")
    assert admin(switch, "subscriptions") == []


def test_a_phone_holds_at_most_max_subscriptions_and_the_one_refreshed_longest_ago_makes_room(make_switch) -> None:  # type: ignore[no-untyped-def]
    """A phone that subscribes again and again (rebooting, a bug, a stolen password) holds at most
    ``security.max_subscriptions``: the one refreshed longest ago is ended with a NOTIFY
    (``terminated;reason=rejected``, RFC 6665 §4.1.3), as the binding refreshed longest ago is
    past ``max_contacts``; one just refreshed stays."""
    import socket

    from softswitch.sip.auth import authorization

    sw = make_switch(security={"max_subscriptions": 2})
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:
        phone.bind(("127.0.0.1", 0))
        port = phone.getsockname()[1]

        def subscribe(n: int, cseq: int, extra: str = "", uri: str = "sip:102@acme.example") -> bytes:
            return (f"SUBSCRIBE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKcap{n}-{cseq};rport\r\n"
                    f"Max-Forwards: 70\r\nFrom: <sip:103@acme.example>;tag=cap{n}\r\n"
                    f"Call-ID: cap-{n}\r\nCSeq: {cseq} SUBSCRIBE\r\nContact: <sip:103@127.0.0.1:{port}>\r\n"
                    f"Event: dialog\r\nAccept: application/dialog-info+xml\r\nExpires: 600\r\n{extra}"
                    "Content-Length: 0\r\n\r\n").encode()

        def header(text: str, name: str) -> str:
            return next(line.split(":", 1)[1].strip() for line in text.split("\r\n") if line.lower().startswith(name + ":"))

        notifies: dict[tuple[str, str], str] = {}  # (Call-ID, CSeq) -> Subscription-State: a retransmission is one

        def receive(status: int, wait: float = 5.0) -> str:
            """Read until the response ``status``; NOTIFYs met on the way are answered and kept."""
            phone.settimeout(wait)
            while True:
                text = phone.recv(65535).decode()
                if text.startswith("NOTIFY "):
                    notifies[(header(text, "call-id"), header(text, "cseq"))] = header(text, "subscription-state")
                    head = [line for line in text.split("\r\n") if line.split(":")[0].lower() in ("via", "from", "to", "call-id", "cseq")]
                    phone.sendto(("SIP/2.0 200 OK\r\n" + "\r\n".join(head) + "\r\nContent-Length: 0\r\n\r\n").encode(),
                                 ("127.0.0.1", sw.port))
                elif text.startswith(f"SIP/2.0 {status} "):
                    return text

        def ended() -> list[str]:
            return sorted(call for (call, _), state in notifies.items() if state.startswith("terminated"))

        accepted: dict[int, str] = {}
        for n in (0, 1, 2):
            if n == 2:  # 0 is refreshed (in its dialog): 1 is now the one refreshed longest ago
                ok = accepted[0]
                contact = header(ok, "contact").strip("<>")
                phone.sendto(subscribe(0, 3, f"To: {header(ok, 'to')}\r\n", uri=contact), ("127.0.0.1", sw.port))
                receive(200)
            phone.sendto(subscribe(n, 1, "To: <sip:102@acme.example>\r\n"), ("127.0.0.1", sw.port))
            challenge = receive(401)
            credentials = authorization(header(challenge, "www-authenticate"), "SUBSCRIBE", "sip:102@acme.example", "103",
                                        "acme-103-secret", "c1")
            phone.sendto(subscribe(n, 2, f"To: <sip:102@acme.example>\r\nAuthorization: {credentials}\r\n"),
                         ("127.0.0.1", sw.port))
            accepted[n] = receive(200)
        held = sw.wait_for(lambda: (subs := admin(sw, "subscriptions")) and len(subs) == 2 and subs, what="two held")
        assert {s["watched"] for s in held} == {"102"}

        def one_ended() -> bool:
            try:
                receive(999, wait=0.5)  # none comes: the NOTIFYs are read on the way
            except TimeoutError:
                pass
            return bool(ended())

        sw.wait_for(one_ended, what="the final NOTIFY of the subscription refreshed longest ago")
        assert ended() == ["cap-1"]
        assert notifies[("cap-1", max((cseq for call, cseq in notifies if call == "cap-1"), key=lambda c: int(c.split()[0])))] == "terminated;reason=rejected"
        assert {call for call, _ in notifies} == {"cap-0", "cap-1", "cap-2"}
