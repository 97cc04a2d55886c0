"""Session timers (RFC 4028), one per leg of a call: pure, with explicit ``now``.

A phone asks for a session timer with ``Session-Expires`` (and ``Supported: timer``); the two
ends agree on an interval and on who refreshes: the *refresher* sends a re-INVITE or UPDATE
before half the interval has passed, and the other end hangs up when no refresh came before
the interval runs out (less a margin, §10).  The switch is a B2BUA, so each leg has its own
agreement: the caller's with the switch as UAS, the callee's with the switch as UAC.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..sip.message import Request, Response

MIN_SE = 90  # the smallest interval we accept (RFC 4028 §4: never below 90 s)
TAG = "timer"


@dataclass(frozen=True, slots=True)
class SessionExpires:
    seconds: int
    refresher: str | None  # "uac" | "uas" | None (not said)

    def __str__(self) -> str:
        return f"{self.seconds};refresher={self.refresher}" if self.refresher else str(self.seconds)


def parse_session_expires(value: str | None) -> SessionExpires | None:
    """``Session-Expires: 1800;refresher=uac``; None if absent or malformed (a malformed value is treated as no request for a timer)."""
    if not value:
        return None
    head, *params = [p.strip() for p in value.split(";")]
    if not head.isdigit():
        return None
    refresher = None
    for param in params:
        name, _, arg = param.partition("=")
        if name.strip().lower() == "refresher" and arg.strip().lower() in ("uac", "uas"):
            refresher = arg.strip().lower()
    return SessionExpires(int(head), refresher)


def session_expires(message: Request | Response) -> SessionExpires | None:
    return parse_session_expires(message.get("Session-Expires"))


def supports_timer(message: Request | Response) -> bool:
    return TAG in [tag.lower() for name in ("Supported", "Require") for tag in message.values(name)]


def min_se(message: Request | Response) -> int:
    value = (message.get("Min-SE") or "").split(";")[0].strip()
    return int(value) if value.isdigit() else MIN_SE


@dataclass
class LegTimer:
    """The agreement on one leg: ``we_refresh`` says whether the switch sends the refreshes."""

    seconds: int
    we_refresh: bool
    last: float  # when the session was last refreshed (the 2xx of the last INVITE/UPDATE)
    retry_at: float | None = None  # a refresh that failed without ending the session is retried

    def refresh_due(self) -> float:
        """We refresh at half the interval (§10)."""
        return self.retry_at if self.retry_at is not None else self.last + self.seconds / 2

    def expires(self) -> float:
        """The other end refreshes: it is late after the interval less min(32 s, a third) (§10)."""
        return self.last + self.seconds - min(32.0, self.seconds / 3)

    def deadline(self) -> float:
        return self.refresh_due() if self.we_refresh else self.expires()

    def refreshed(self, now: float) -> None:
        self.last = now
        self.retry_at = None

    def header(self, we_are_uac: bool) -> str:
        """Our ``Session-Expires`` in a message we send: the refresher named from the point of
        view of that transaction (uac: whoever sent the request)."""
        refresher = "uac" if self.we_refresh == we_are_uac else "uas"
        return str(SessionExpires(self.seconds, refresher))


def as_uas(request: Request, now: float) -> LegTimer | None:
    """The timer the switch agrees to when it answers ``request`` (INVITE or UPDATE) with a
    2xx: only when the phone asked (a ``Session-Expires``).  The phone refreshes if it said
    so, or said nothing and supports timers; otherwise the switch does (§9)."""
    asked = session_expires(request)
    if asked is None:
        return None
    refresher = asked.refresher or ("uac" if supports_timer(request) else "uas")
    return LegTimer(max(asked.seconds, MIN_SE), we_refresh=refresher == "uas", last=now)


def as_uac(response: Response, now: float) -> LegTimer | None:
    """The timer in a 2xx to a request the switch sent: the callee's ``Session-Expires``
    names the refresher; without the parameter the switch (as UAC) refreshes (§7.2)."""
    said = session_expires(response)
    if said is None:
        return None
    return LegTimer(max(said.seconds, MIN_SE), we_refresh=said.refresher != "uas", last=now)


def too_small(request: Request) -> bool:
    """A ``Session-Expires`` below our minimum is refused with 422 and ``Min-SE`` (§8.1)."""
    asked = session_expires(request)
    return asked is not None and asked.seconds < MIN_SE
