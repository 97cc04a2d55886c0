"""RFC 3842 message-summary bodies (presence/message_summary.py)."""

from __future__ import annotations

from softswitch.presence.message_summary import message_summary


def test_the_lamp_is_on_while_a_new_message_waits() -> None:
    assert message_summary("sip:102@acme.example", 0, 0) == (
        b"Messages-Waiting: no\r\nMessage-Account: sip:102@acme.example\r\nVoice-Message: 0/0 (0/0)\r\n")
    assert message_summary("sip:102@acme.example", 2, 5).startswith(b"Messages-Waiting: yes\r\n")
    assert b"Voice-Message: 2/5 (0/0)\r\n" in message_summary("sip:102@acme.example", 2, 5)
    assert message_summary("sip:102@acme.example", 0, 3).startswith(b"Messages-Waiting: no\r\n")  # old ones only
