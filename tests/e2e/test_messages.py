"""Messages between phones (SIP MESSAGE, RFC 3428) with real peers: SIPp as 101 sends, two SIPp
devices registered as 102 receive; unknown numbers, other accounts' numbers, a target without a
device, an oversize or non-text body and a sender over its rate are refused; sipsak sends too."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from .harness import Switch, base_config, free_port, register, require_tool

PASSWORD = "acme-101-secret"


def accounts() -> list[dict[str, Any]]:
    """The harness's accounts, with an alias for acme 102 and a number only globex has (150)."""
    found: list[dict[str, Any]] = base_config(0, Path("unused"))["accounts"]
    acme, globex = found[0], found[1]
    acme["extensions"] = [dict(e, alias="sale02") if e["number"] == "102" else e for e in acme["extensions"]]
    globex["extensions"].append({"number": "150", "password": "globex-150-secret"})
    return found


def send(sw: Switch, to: str, body: str, *, to_domain: str = "acme.example", ctype: str = "text/plain",
         user: str = "101", password: str = PASSWORD) -> tuple[str, str]:
    """SIPp sends one MESSAGE as ``user``; the final status line it got, and its message log."""
    log = sw.workdir / f"sender-{free_port()}.log"
    result = sw.sipp("message_send.xml", "-s", to, "-au", user, "-ap", password, "-key", "to_domain", to_domain,
                     "-key", "ctype", ctype, "-key", "body", body, "-trace_msg", "-message_file", str(log),
                     users=[(user, "-")], domain="acme.example", timeout=20)
    assert isinstance(result, subprocess.CompletedProcess)
    assert result.returncode == 0, result.stdout[-2500:]
    text = log.read_text(errors="replace")
    finals = [line for line in re.findall(r"^SIP/2\.0 \d{3} .*$", text, re.M) if not line.startswith(("SIP/2.0 100", "SIP/2.0 407"))]
    assert finals, text[-2000:]
    return finals[-1].rstrip("\r"), text


def udp_bound(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port`` over UDP (read, not probed by binding)."""
    needle = f"0100007F:{port:04X}"
    return any(line.split()[1] == needle for line in Path("/proc/net/udp").read_text().splitlines()[1:])


def device(sw: Switch, port: int, messages: int) -> tuple[subprocess.Popen[str], Path]:
    """A SIPp phone on the port 102 registered from, answering ``messages`` MESSAGEs with 200."""
    log = sw.workdir / f"device-{port}.log"
    proc = sw.sipp("message_ok.xml", "-trace_msg", "-message_file", str(log), calls=messages, domain="acme.example",
                   local_port=port, background=True, timeout=30)
    assert isinstance(proc, subprocess.Popen)
    sw.wait_for(lambda: udp_bound(port) or proc.poll() is not None, what=f"SIPp listening on {port}")
    assert proc.poll() is None, proc.communicate()[0][-2000:]
    return proc, log


def received(log: Path) -> list[str]:
    """The MESSAGE requests in a SIPp message log, each as its text."""
    return re.findall(r"^MESSAGE sip:.*?(?=^-{10,}|\Z)", log.read_text(errors="replace"), re.M | re.S)


def header(message: str, name: str) -> str:
    found = re.search(rf"^{name}:\s*(.*?)\r?$", message, re.M | re.I)
    assert found, message
    return found.group(1)


def test_message_from_101_reaches_both_devices_of_102_by_number_and_by_alias(make_switch) -> None:  # type: ignore[no-untyped-def]
    sw: Switch = make_switch(accounts=accounts())
    ports = [free_port(), free_port()]
    for port in ports:
        register(sw, "102", "acme-102-secret", port)
    # A third device of 102 says on its Contact that it takes no MESSAGE: it is left out.
    silent = sw.sipp("register_no_message.xml", users=[("102", "acme-102-secret")],
                     domain="acme.example", local_port=free_port())
    assert isinstance(silent, subprocess.CompletedProcess) and silent.returncode == 0, silent.stdout[-2000:]
    sw.wait_for(lambda: len(sw.registrations("acme")) == 3, what="three devices of 102")
    devices = [device(sw, port, messages=2) for port in ports]

    sent = [send(sw, "102", "Lunch at noon?"), send(sw, "sale02", "Meeting moved to 3pm")]
    assert [status for status, _ in sent] == ["SIP/2.0 200 OK"] * 2
    assert sw.log().count("101@acme -> 102, ") == 2 and sw.log().count(" to 2 device(s)") == 2

    for proc, log in devices:
        out, _ = proc.communicate(timeout=40)
        assert proc.returncode == 0, out[-2500:]
        first, second = received(log)
        assert "Lunch at noon?" in first and "Meeting moved to 3pm" in second
        for message in (first, second):
            assert re.search(r"<sip:101@acme\.example>;tag=", header(message, "From"))
            assert header(message, "To") == "<sip:102@acme.example>"
            assert header(message, "Content-Type") == "text/plain"
            assert header(message, "CSeq") == "1 MESSAGE"
            assert not re.search(r"^(Proxy-)?Authorization:", message, re.M | re.I)  # credentials stay here
        assert header(first, "Call-ID") != header(second, "Call-ID")
    # Each message went out with a Call-ID of its own per device, none the sender's.
    call_ids = {header(m, "Call-ID") for _, log in devices for m in received(log)}
    assert len(call_ids) == 4 and call_ids.isdisjoint(header(trace, "Call-ID") for _, trace in sent)


def test_unknown_numbers_and_other_accounts_numbers_get_the_same_404(make_switch) -> None:  # type: ignore[no-untyped-def]
    sw: Switch = make_switch(accounts=accounts(), messages={"max_size": 200})
    unknown, _ = send(sw, "999", "hello?")
    assert unknown == "SIP/2.0 404 Not Found"
    assert send(sw, "150", "hello?")[0] == unknown  # globex has 150; acme's 101 never learns it
    assert send(sw, "102", "hello?", to_domain="globex.example")[0] == unknown  # globex's own 102
    assert send(sw, "103", "anyone?")[0] == "SIP/2.0 480 Temporarily Unavailable"  # no registered device
    assert send(sw, "103", "x" * 201)[0] == "SIP/2.0 413 Request Entity Too Large"
    status, trace = send(sw, "103", "PNG", ctype="image/png")
    assert status == "SIP/2.0 415 Unsupported Media Type"
    assert re.search(r"^Accept:.*text/\*", trace, re.M)
    # A wrong password is the registrar's one 403, as for calls.
    assert send(sw, "102", "hello?", password="wrong-password")[0] == "SIP/2.0 403 Forbidden"


def test_a_sender_over_its_rate_gets_503_with_retry_after(make_switch) -> None:  # type: ignore[no-untyped-def]
    sw: Switch = make_switch(messages={"rate": 2, "window": 60})
    assert send(sw, "103", "one")[0] == "SIP/2.0 480 Temporarily Unavailable"
    assert send(sw, "103", "two")[0] == "SIP/2.0 480 Temporarily Unavailable"
    status, trace = send(sw, "103", "three")
    assert status == "SIP/2.0 503 Too Many Messages"
    retry = re.search(r"^Retry-After:\s*(\d+)", trace, re.M)
    assert retry and 1 <= int(retry.group(1)) <= 60
    # Another extension is limited on its own.
    assert send(sw, "103", "four", user="104", password="acme-104-secret")[0] == "SIP/2.0 480 Temporarily Unavailable"


def test_sipsak_sends_a_message_to_a_registered_device(make_switch) -> None:  # type: ignore[no-untyped-def]
    """sipsak's own -M mode crashes (0.9.8.1, signal 11, before sending), so it sends a MESSAGE
    from a file; it answers the 407 with its credentials itself."""
    sipsak = require_tool("sipsak")
    sw: Switch = make_switch()
    port = free_port()
    register(sw, "102", "acme-102-secret", port)
    proc, log = device(sw, port, messages=1)
    body = "Sent by sipsak"
    request = sw.workdir / "message.sip"
    request.write_bytes(
        ("MESSAGE sip:102@acme.example SIP/2.0\r\nMax-Forwards: 70\r\nFrom: <sip:101@acme.example>;tag=sipsak1\r\n"
         "To: <sip:102@acme.example>\r\nCall-ID: sipsak-message@127.0.0.1\r\nCSeq: 1 MESSAGE\r\n"
         f"Content-Type: text/plain;charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode())
    result = subprocess.run([sipsak, "-f", str(request), "-s", f"sip:102@127.0.0.1:{sw.port}", "-u", "101", "-a", PASSWORD, "-vv"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "authorizing" in result.stdout and re.search(r"^\s*SIP/2\.0 200 OK\s+final received", result.stdout, re.M), result.stdout
    out, _ = proc.communicate(timeout=40)
    assert proc.returncode == 0, out[-2500:]
    (message,) = received(log)
    assert message.rstrip().endswith(body) and header(message, "Content-Type") == "text/plain;charset=utf-8"
    assert "<sip:101@acme.example>" in header(message, "From")
