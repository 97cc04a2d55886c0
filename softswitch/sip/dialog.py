"""Dialogs (RFC 3261 §12): the state two user agents share, and requests built from it.

Theory of operation
-------------------
A ``Dialog`` is one side's view: Call-ID, local and remote tags and URIs, the
remote target (the peer's Contact), the route set, the local CSeq and the
highest remote CSeq seen.  ``as_uas`` builds it from a request we answer,
``as_uac`` from a request we sent and the response that created it.
``request()`` writes an in-dialog request (§12.2.1.1), ``ack()`` the ACK for a
2xx (§13.2.2.4), and ``accept()`` applies the checks a UAS makes on an
in-dialog request (§12.2.2: CSeq order, target refresh).

Where the peer is reached is ``target``: the flow the dialog was created on
(the registered phone's flow, or the source of the INVITE), not the Contact
host, because a phone behind NAT writes an address nobody can reach (SPEC
"Phones: NAT").  No sockets, clocks or randomness: tags and branches come in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import RemoteProtocolError
from .headers import NameAddr, parse_name_addr_list
from .message import Header, Request, Response
from .transaction import Target
from .uri import Uri

TARGET_REFRESH = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str | None
    local_uri: str  # our From/To value, without the tag
    remote_uri: str
    remote_target: Uri
    target: Target
    contact: str  # our Contact header value
    route_set: list[str] = field(default_factory=list)
    local_seq: int = 0
    remote_seq: int | None = None

    # --- creation ---------------------------------------------------------
    @classmethod
    def as_uas(cls, request: Request, local_tag: str, contact: str, source: Target) -> Dialog:
        """The dialog a request we answer with 2xx/1xx-with-tag creates (§12.1.1)."""
        remote_target = request.contacts[0].uri if request.contacts else request.from_.uri
        return cls(
            call_id=request.call_id, local_tag=local_tag, remote_tag=request.from_.tag,
            local_uri=_untagged(request.to), remote_uri=_untagged(request.from_),
            remote_target=remote_target, target=source, contact=contact,
            route_set=_routes(request),
            local_seq=0, remote_seq=request.cseq.number,
        )

    @classmethod
    def as_uac(cls, request: Request, response: Response, target: Target, *, routing: bool = True) -> Dialog:
        """The dialog a response to our request creates (§12.1.2); route set reversed.
        Raises ``RemoteProtocolError`` for an unreadable Contact or Record-Route; with
        ``routing=False`` they are not read (the request's URI and no route set), enough
        to ACK and BYE such an answer straight back to where the request went."""
        remote_target = request.uri
        if routing and response.contacts:
            remote_target = response.contacts[0].uri
        return cls(
            call_id=request.call_id, local_tag=request.from_.tag or "", remote_tag=response.to.tag,
            local_uri=_untagged(request.from_), remote_uri=_untagged(response.to),
            remote_target=remote_target, target=target, contact=request.get("Contact") or "",
            route_set=_routes(response)[::-1] if routing else [], local_seq=request.cseq.number, remote_seq=None,
        )

    @property
    def key(self) -> tuple[str, str]:
        """How in-dialog requests find this dialog: Call-ID and our tag."""
        return (self.call_id, self.local_tag)

    # --- sending ----------------------------------------------------------
    def _tagged(self, uri: str, tag: str | None) -> str:
        return f"{uri};tag={tag}" if tag else uri

    def request(
        self, method: str, via: str, *, body: bytes = b"", content_type: str | None = None,
        extra: list[Header] | None = None, cseq: int | None = None,
    ) -> Request:
        """An in-dialog request (§12.2.1.1); ``via`` is the complete top Via value."""
        if cseq is None:
            self.local_seq += 1
            cseq = self.local_seq
        headers = [Header("Via", via), Header("Max-Forwards", "70")]
        headers += [Header("Route", r) for r in self.route_set]
        headers += [
            Header("From", self._tagged(self.local_uri, self.local_tag)),
            Header("To", self._tagged(self.remote_uri, self.remote_tag)),
            Header("Call-ID", self.call_id),
            Header("CSeq", f"{cseq} {method}"),
        ]
        if method in TARGET_REFRESH and self.contact:
            headers.append(Header("Contact", self.contact))
        headers += extra or []
        if body:
            headers.append(Header("Content-Type", content_type or "application/sdp"))
        headers.append(Header("Content-Length", str(len(body))))
        return Request(method, self.remote_target, headers, body)

    def ack(self, invite_cseq: int, via: str, body: bytes = b"") -> Request:
        """The ACK for a 2xx to our INVITE: same CSeq number, new branch (§13.2.2.4)."""
        return self.request("ACK", via, body=body, cseq=invite_cseq)

    # --- receiving --------------------------------------------------------
    def accept(self, request: Request) -> None:
        """Checks on an in-dialog request (§12.2.2): CSeq must grow (``500`` otherwise,
        ACK and CANCEL excepted); a target refresh updates the remote target."""
        number = request.cseq.number
        if request.method not in ("ACK", "CANCEL"):
            if self.remote_seq is not None and number <= self.remote_seq:
                raise RemoteProtocolError(f"CSeq {number} is not above {self.remote_seq}", 500)
            self.remote_seq = number
        if request.method in TARGET_REFRESH and request.contacts:
            self.remote_target = request.contacts[0].uri

    def refresh_from_response(self, response: Response) -> None:
        """A 2xx to a target-refresh request we sent may carry a new Contact."""
        if response.contacts:
            self.remote_target = response.contacts[0].uri


def _routes(message: Request | Response) -> list[str]:
    """Record-Route entries in order, each exactly as received."""
    return [str(r) for value in message.get_all("Record-Route") for r in parse_name_addr_list(value, "Record-Route")]


def _untagged(addr: NameAddr) -> str:
    return str(NameAddr(addr.uri, addr.display_name, tuple((k, v) for k, v in addr.params if k.lower() != "tag")))
