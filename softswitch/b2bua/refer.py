"""What every REFER (RFC 3515) gets, whatever it asks for (park, transfer): the ``202`` and
the NOTIFYs that tell the referrer how it goes (pure).

A REFER creates an implicit subscription to the ``refer`` event unless it says
``Refer-Sub: false`` (RFC 4488); each NOTIFY carries the status line of the referred
request as ``message/sipfrag`` (RFC 3515 §2.4.4): ``100 Trying`` while it runs, its final
status to end the subscription.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..sip.dialog import Dialog
from ..sip.message import Header, Request, Response, make_response
from .actions import Ref, SendRequest

if TYPE_CHECKING:
    from .call import Call

SIPFRAG = "message/sipfrag;version=2.0"


def subscribed(request: Request) -> bool:
    """Whether the referrer wants NOTIFYs (not ``Refer-Sub: false``)."""
    return (request.get("Refer-Sub") or "").strip().lower() != "false"


def accepted(request: Request, dialog: Dialog | None, notify: bool) -> Response:
    """``202 Accepted`` (RFC 3515 §2.4.2), inside the referrer's dialog."""
    resp = make_response(request, 202, to_tag=dialog.local_tag if dialog is not None else None)
    if dialog is not None:
        resp.add("Contact", dialog.contact)
    if not notify:
        resp.add("Refer-Sub", "false")
    resp.add("Content-Length", "0")
    return resp


def notify(call: Call, dialog: Dialog, status_line: str, *, final: bool) -> SendRequest:
    """A NOTIFY of the refer event with ``status_line`` as sipfrag; ``final`` ends it."""
    state = "terminated;reason=noresource" if final else "active;expires=60"
    request = dialog.request("NOTIFY", call.via(dialog.target), body=f"{status_line}\r\n".encode(), content_type=SIPFRAG,
                             extra=[Header("Event", "refer"), Header("Subscription-State", state)])
    return SendRequest(request, dialog.target, Ref("notify"))
