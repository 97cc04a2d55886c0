"""Checks every UAS applies before looking at what a request means (RFC 3261 §8.2),
and the server transport's Via stamping (RFC 3261 §18.2.1, RFC 3581 §4)."""

from __future__ import annotations

from .message import KNOWN_METHODS, Request, Response, make_response
from .uri import SipUri, TelUri

SDP = "application/sdp"
BODY_METHODS = frozenset({"INVITE", "UPDATE", "PRACK", "ACK"})


def check_request(request: Request, allowed: frozenset[str], supported: frozenset[str]) -> Response | None:
    """The response that ends a request before the TU sees it, or None."""
    method = request.method
    if not isinstance(request.uri, (SipUri, TelUri)):
        resp = make_response(request, 416)
        return resp
    if method not in allowed:
        resp = make_response(request, 405 if method in KNOWN_METHODS else 501)
        resp.add("Allow", ", ".join(sorted(allowed)))
        return resp
    if method not in ("ACK", "CANCEL"):
        unsupported = [tag for tag in request.values("Require") if tag.lower() not in supported]
        if unsupported:
            resp = make_response(request, 420)
            resp.add("Unsupported", ", ".join(unsupported))
            return resp
    if method in BODY_METHODS and request.body:
        ctype = (request.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != SDP:
            resp = make_response(request, 415)
            resp.add("Accept", SDP)
            return resp
    if method == "INVITE" and request.has("Accept"):
        accepted = [a.split(";")[0].strip().lower() for a in request.values("Accept")]
        if not any(a in (SDP, "application/*", "*/*") for a in accepted):
            resp = make_response(request, 406)
            resp.add("Accept", SDP)
            return resp
    return None


def stamp_via(request: Request, host: str, port: int) -> None:
    """Add ``received`` (and fill ``rport``) to the top Via, in place."""
    top = request.vias[0]
    stamped = top.stamped(host, port)
    if stamped is not top:
        request.replace_top_via(stamped)

