"""SIP plug-and-play (RFC 6080 style): a phone starting with no provisioning server multicasts a
``SUBSCRIBE`` with ``Event: ua-profile`` to 224.0.1.75:5060; with ``provisioning.plug_and_play``
the switch answers ``200`` (Expires: 0) and sends it a ``NOTIFY`` whose body is the provisioning
URL (``application/url``, what the phones' ``Accept`` asks for), so the phone fetches its files.

It is unauthenticated (anyone on the segment can answer a phone), so it answers only sources
within ``provisioning.allow`` when that is set, and only while the operator turns it on."""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Callable

from ..config import Config
from ..sip.errors import RemoteProtocolError
from ..sip.message import Header, Request, make_response, new_request
from ..sip.transaction import ServerTransaction, Target
from ..sip.transport.endpoint import SipEndpoint
from .profile import provisioning_url

log = logging.getLogger(__name__)

EVENT = "ua-profile"
GROUP = "224.0.1.75"  # SIP multicast (IANA "SIP"), where phones look for a provisioning server
PORT = 5060


def is_plug_and_play(request: Request) -> bool:
    return request.method == "SUBSCRIBE" and (request.get("Event") or "").split(";")[0].strip().lower() == EVENT


def join_group(sock: socket.socket) -> None:
    """Let a UDP listener on the wildcard address at port 5060 receive the phones' multicast."""
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, struct.pack("4s4s", socket.inet_aton(GROUP),
                                                                            socket.inet_aton("0.0.0.0")))


def answer(config: Config, endpoint: SipEndpoint, new_id: Callable[[], str], tx: ServerTransaction,
           request: Request, source: Target, allowed: Callable[[str], bool]) -> None:
    prov = config.provisioning
    if prov is None or not prov.plug_and_play or not allowed(source.host):
        endpoint.respond(tx, make_response(request, 489, to_tag=new_id()))  # as any event the switch does not serve
        return
    tag = new_id()
    ok = make_response(request, 200, to_tag=tag)
    ok.add("Expires", "0")
    endpoint.respond(tx, ok)
    url = provisioning_url(config) + "/"
    event = request.get("Event") or EVENT
    try:
        contacts = request.contacts
        target_uri = contacts[0].uri if contacts else request.from_.uri
        notify = new_request("NOTIFY", target_uri, endpoint.new_via(source.transport), f"{request.get('To')};tag={tag}",
                             request.get("From") or "", request.call_id,
                             [Header("Event", event), Header("Subscription-State", "terminated;reason=timeout")],
                             url.encode(), "application/url")
    except RemoteProtocolError:
        return
    log.info("plug-and-play: %s (%s) told to fetch its files from %s", source.host,
             (request.get("User-Agent") or "")[:80], url)
    endpoint.send_request(notify, source, lambda response: None)
