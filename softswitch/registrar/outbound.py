"""Registering the switch to a provider (a trunk with ``registration``; RFC 3261 §10.2).

Theory of operation
-------------------
One ``OutboundRegistration`` per trunk keeps the Call-ID and From tag for its whole
life and raises the CSeq with every REGISTER (§10.2.4, so the provider sees
refreshes, not new registrations).  A 401/407 is answered with digest credentials
once per challenge; a second challenge right after an answered one means the
credentials are wrong.  After a 2xx the registration is refreshed when 80 % of
the granted lifetime has passed (at least 5 s before it ends); after a failure
or a timeout it is tried again after ``retry`` seconds, doubling up to 10 minutes.
Pure: ``now``, ids and the send function's inputs come from the caller; the
status is what ``softswitch trunks`` shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..sip.auth import authorization
from ..sip.message import Header, Request, Response
from ..sip.uri import parse_uri

MAX_RETRY = 600.0


@dataclass
class Status:
    state: str = "unregistered"  # registering | registered | failed | unregistered
    expires_at: float | None = None
    last_status: str = ""  # e.g. "200 OK" or "timeout"
    last_change: float = 0.0


class OutboundRegistration:
    def __init__(
        self, *, trunk: str, registrar_uri: str, aor: str, contact: str, username: str, password: str,
        expires: int, call_id: str, tag: str, user_agent: str, retry: float = 30.0,
    ) -> None:
        self.trunk = trunk
        self.registrar_uri = registrar_uri
        self.aor = aor
        self.contact = contact
        self.username, self.password = username, password
        self.expires = expires
        self.call_id, self.tag = call_id, tag
        self.user_agent = user_agent
        self.cseq = 0
        self.base_retry = retry
        self.retry = retry
        self.status = Status()
        self.next_at: float | None = 0.0  # register at once
        self.in_flight = False
        self._answered_challenge = False

    def get_timer(self) -> float | None:
        return None if self.in_flight else self.next_at

    def request(self, via: str, now: float, challenge: Response | None = None, cnonce: str = "") -> Request:
        """The next REGISTER (``challenge``: the 401/407 it answers)."""
        self.cseq += 1
        self.in_flight = True
        self.next_at = None
        if self.status.state != "registered":
            self._set("registering", now, self.status.last_status)
        headers = [
            Header("Via", via), Header("Max-Forwards", "70"),
            Header("From", f"<{self.aor}>;tag={self.tag}"), Header("To", f"<{self.aor}>"),
            Header("Call-ID", self.call_id), Header("CSeq", f"{self.cseq} REGISTER"),
            Header("Contact", self.contact), Header("Expires", str(self.expires)),
            Header("User-Agent", self.user_agent),
        ]
        if challenge is not None:
            name = "Proxy-Authenticate" if challenge.status == 407 else "WWW-Authenticate"
            value = authorization(challenge.get(name) or "", "REGISTER", self.registrar_uri, self.username, self.password, cnonce)
            if value is not None:
                headers.append(Header("Proxy-Authorization" if challenge.status == 407 else "Authorization", value))
        headers.append(Header("Content-Length", "0"))
        return Request("REGISTER", parse_uri(self.registrar_uri), headers)

    def on_response(self, response: Response | None, now: float) -> bool:
        """Take the final response (None: timed out).  True when it is a challenge to answer
        now: send ``request(via, now, challenge=response)``."""
        self.in_flight = False
        if response is None:
            self._fail(now, "timeout")
            return False
        if response.status in (401, 407):
            if self._answered_challenge and "stale=true" not in (response.get("WWW-Authenticate") or response.get("Proxy-Authenticate") or "").lower():
                self._answered_challenge = False
                self._fail(now, f"{response.status} {response.reason} (credentials refused)")
                return False
            self._answered_challenge = True
            return True
        self._answered_challenge = False
        if 200 <= response.status < 300:
            granted = self._granted(response)
            self.retry = self.base_retry
            self.status.expires_at = now + granted
            self._set("registered", now, f"{response.status} {response.reason}")
            self.next_at = now + max(min(granted * 0.8, granted - 5), 1.0)
            return False
        if response.status == 423:
            min_expires = response.get("Min-Expires")
            if min_expires and min_expires.strip().isdigit():
                self.expires = int(min_expires.strip())
                self.next_at = now
                self.status.last_status = "423 Interval Too Brief"
                return False
        self._fail(now, f"{response.status} {response.reason}")
        return False

    def _granted(self, response: Response) -> int:
        for contact in response.contacts:
            if str(contact.uri) in self.contact:
                value = contact.param("expires")
                if value and value.isdigit():
                    return int(value)
        header = response.get("Expires")
        if header and header.strip().isdigit():
            return int(header.strip())
        return self.expires

    def _fail(self, now: float, why: str) -> None:
        self._set("failed", now, why)
        self.status.expires_at = None
        self.next_at = now + self.retry
        self.retry = min(self.retry * 2, MAX_RETRY)

    def _set(self, state: str, now: float, last: str) -> None:
        if state != self.status.state:
            self.status.last_change = now
        self.status.state = state
        self.status.last_status = last
