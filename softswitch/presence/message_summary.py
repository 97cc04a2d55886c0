"""RFC 3842 message-summary bodies: what a phone's message-waiting lamp is told.

``Messages-Waiting`` says whether the mailbox holds a new message; ``Message-Account``
names the mailbox; ``Voice-Message`` counts new/old messages (and urgent ones, in
parentheses; the switch has none).  Pure.
"""

from __future__ import annotations

CONTENT_TYPE = "application/simple-message-summary"
EVENT = "message-summary"


def message_summary(account_uri: str, new: int, old: int) -> bytes:
    return (f"Messages-Waiting: {'yes' if new else 'no'}\r\n"
            f"Message-Account: {account_uri}\r\n"
            f"Voice-Message: {new}/{old} (0/0)\r\n").encode()
