"""Text messages between phones (SIP MESSAGE, RFC 3428): the decisions, pure.

Theory of operation
-------------------
A phone sends a MESSAGE outside any dialog to another extension of its own account, by
number or alias.  The service (``service.py``) authenticates the sender as calls do and asks
this module, in this order:

  * ``check_body``: a body over the size cap gets ``413`` (RFC 3428 asks that a MESSAGE sent
    where congestion control is not known stay under 1300 bytes, and the switch passes the
    body on to phones over UDP); a body that is not text gets ``415`` with ``Accept``;
  * ``RateLimit.take``: at most ``limit`` messages per ``window`` seconds from one sender; the
    next gets ``503`` with ``Retry-After`` (RFC 3261 §21.5.4).  Not ``429``: in SIP that code
    is "Provide Referrer Identity" (RFC 3892), not HTTP's "Too Many Requests" (RFC 6585);
  * ``find_recipient``: the target extension, looked up only inside the sender's account, so
    an unknown number and a number of another account get the very same ``404``;
  * ``recipients``: which registered devices get it: every binding whose Contact does not
    rule MESSAGE out with the RFC 3840 ``methods`` feature tag.  The registrar does not keep
    a REGISTER's ``Allow`` header, so a device that did not say is assumed to take messages;
  * ``Delivery``: the switch sends its own MESSAGE to each device at once and answers the
    sender from their answers (see ``Delivery`` for which answer and why).

Not here: sockets, the clock (``now`` comes in), digest authentication, building requests.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ..registrar.core import Binding
from ..sip.errors import RemoteProtocolError
from ..sip.headers import parse_name_addr
from ..sip.transaction import Target

# Text, and what IM clients send around text: CPIM wrappers (RFC 3862), typing indications
# (RFC 3994) and delivery notifications (RFC 5438).
ACCEPT = ("text/*", "message/cpim", "application/im-iscomposing+xml", "message/imdn+xml")
# Failures that say something about the recipient, passed on to the sender as they are.  Any
# other failure of a device (its own 401/407 challenge, a 404 for its contact, a 408 timeout)
# means nothing to the sender and becomes 480.
PASSED_ON = frozenset({413, 415, 486, 488, 600, 603, 606})


@dataclass(frozen=True, slots=True)
class Answer:
    """What the sender is answered: a status, its reason phrase, and ``Retry-After`` seconds
    or an ``Accept`` header where the status asks for one."""

    status: int
    reason: str
    retry_after: int | None = None
    accept: str | None = None


NOT_FOUND = Answer(404, "Not Found")  # one answer for unknown numbers and other accounts' numbers
UNAVAILABLE = Answer(480, "Temporarily Unavailable")


def check_body(body: bytes, content_type: str | None, max_size: int) -> Answer | None:
    """``413`` for a body over ``max_size`` bytes, ``415`` for a body that is not text (nor
    one of the IM types in ``ACCEPT``); None when the body may go on.  An empty MESSAGE
    carries nothing to refuse."""
    if len(body) > max_size:
        return Answer(413, "Request Entity Too Large")
    if not body:
        return None
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media.startswith("text/") or media in ACCEPT:
        return None
    return Answer(415, "Unsupported Media Type", accept=", ".join(ACCEPT))


class RateLimit:
    """At most ``limit`` messages per sender within any ``window`` seconds (a sliding log).

    Only messages let through are counted: a phone refused for sending too fast is not
    kept refused by its own retries.  Memory: at most ``limit`` times per sender, and a
    sender is forgotten once its window is empty (``forget``)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._sent: dict[Hashable, deque[float]] = {}

    def take(self, sender: Hashable, now: float) -> float | None:
        """Count one message from ``sender`` and return None, or return how many seconds
        until it may send again (nothing counted)."""
        times = self._sent.get(sender)
        if times is None:
            times = self._sent[sender] = deque()
        while times and now - times[0] >= self.window:
            times.popleft()
        if len(times) >= self.limit:
            return times[len(times) - self.limit] + self.window - now
        times.append(now)
        return None

    def forget(self, now: float) -> None:
        """Drop senders with nothing in their window."""
        for sender in [s for s, t in self._sent.items() if not t or now - t[-1] >= self.window]:
            del self._sent[sender]

    def __len__(self) -> int:
        return len(self._sent)


def too_many(wait: float) -> Answer:
    """The answer to a sender over its rate, with whole seconds to wait (at least 1)."""
    return Answer(503, "Too Many Messages", retry_after=max(1, math.ceil(wait)))


class Addressable(Protocol):
    """What ``find_recipient`` reads of an extension (the config's ``Extension``)."""

    @property
    def number(self) -> str: ...

    @property
    def alias(self) -> str | None: ...


E = TypeVar("E", bound=Addressable)


def find_recipient(extensions: Iterable[E], dialled: str) -> E | None:
    """The extension ``dialled`` names among ``extensions`` (one account's): its number or its
    alias, as calls resolve them (``dialplan.resolve``).  Groups and outside numbers do not
    take messages."""
    if not dialled:
        return None
    by_alias = None
    for extension in extensions:
        if extension.number == dialled:
            return extension
        if by_alias is None and extension.alias == dialled:
            by_alias = extension
    return by_alias


def takes_messages(contact: str) -> bool:
    """Whether a registered Contact accepts MESSAGE: unless its RFC 3840 ``methods`` feature
    tag lists methods without MESSAGE.  A Contact that does not say is assumed to."""
    try:
        methods = parse_name_addr(contact, "Contact").param("methods")
    except RemoteProtocolError:  # the registrar took it; reading it here is not our place to fail
        return True
    if methods is None:
        return True
    listed = {m.strip().upper() for m in methods.strip('"').split(",")}
    return "MESSAGE" in listed or listed == {""}


def recipients(bindings: Sequence[Binding], sender: Target, max_devices: int) -> list[Binding]:
    """The devices a message goes to: those that take messages, never the flow it came
    from (a phone writing to its own extension does not get its message back; behind an edge
    proxy, the phone's own address as the edge saw it), at most
    ``max_devices`` of them (the most recently registered first, as ``lookup`` gives them)."""
    return [b for b in bindings if b.client != sender and takes_messages(b.contact)][:max_devices]


class Delivery:
    """One message forked to ``devices`` devices, and the answer its sender gets.

    RFC 3428 lets the switch answer ``200 OK`` when the message reached its recipient and
    ``202 Accepted`` when it took the message on for delivery without knowing yet.  So:

      * the first device that answers 2xx decides: the sender gets its code (``200``, or a
        device's own ``202``), at once;
      * when every device has failed, the sender gets the best failure (RFC 3261 §16.7 step 6:
        a 6xx first, else the lowest code), as ``PASSED_ON`` allows, else ``480``;
      * when ``wait`` seconds pass with devices still silent, ``202``: the message went out and
        may yet arrive.  Waiting longer would hold the sender up to Timer F (32 s) for a phone
        whose NAT binding died, and the sender's own transaction would give up first.

    Answers after the sender's are ignored (``answered`` returns None)."""

    def __init__(self, devices: int, now: float, wait: float) -> None:
        if devices < 1:
            raise ValueError("a delivery needs at least one device")
        self.pending = set(range(devices))
        self.failures: list[int] = []
        self.due: float | None = now + wait
        self.answer: Answer | None = None

    def answered(self, device: int, status: int | None) -> Answer | None:
        """Device ``device`` gave its final answer (None: its transaction timed out).  Returns
        the sender's answer when this decides it."""
        if device not in self.pending:
            return None
        self.pending.discard(device)
        if self.answer is not None:
            return None
        if status is not None and 200 <= status < 300:
            return self._decide(Answer(status, "OK" if status == 200 else "Accepted"))
        self.failures.append(408 if status is None else status)
        if not self.pending:
            return self._decide(self._best_failure())
        return None

    def get_timer(self) -> float | None:
        return self.due

    def handle_timer(self, now: float) -> Answer | None:
        if self.due is None or now < self.due:
            return None
        return self._decide(Answer(202, "Accepted"))

    def _decide(self, answer: Answer) -> Answer:
        self.answer = answer
        self.due = None
        return answer

    def _best_failure(self) -> Answer:
        best = min(self.failures, key=lambda s: (s < 600, s))
        if best in PASSED_ON:
            return Answer(best, _REASONS.get(best, "Failed"))
        return UNAVAILABLE


_REASONS = {413: "Request Entity Too Large", 415: "Unsupported Media Type", 486: "Busy Here",
            488: "Not Acceptable Here", 600: "Busy Everywhere", 603: "Decline", 606: "Not Acceptable"}
