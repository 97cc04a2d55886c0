"""Phones fetch their files again now (``check-sync``): when a reload changes what a device's
files say (a line's password or number, its keys, the server), each registered phone of that
device gets an out-of-dialog ``NOTIFY`` with ``Event: check-sync;reboot=false``, which Yealink,
Grandstream and Fanvil phones honour by re-provisioning without a reboot (the Yealink files set
``sip.notify_reboot_enable = 0`` and the Grandstream files turn NOTIFY authentication off)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..config import Account, Config
from ..config.schema import Device
from ..registrar.service import RegistrarService
from ..sip.errors import RemoteProtocolError
from ..sip.headers import NameAddr
from ..sip.message import Header, new_request
from ..sip.transport.endpoint import SipEndpoint
from ..sip.uri import SipUri, parse_uri
from .profile import find_device, profile

log = logging.getLogger(__name__)

EVENT = "check-sync;reboot=false"
VENDOR = {"yealink": "yealink", "grandstream": "grandstream", "grandstream-gxp": "grandstream", "fanvil": "fanvil"}


def changed_devices(old: Config, new: Config, now: float) -> list[tuple[Account, Device]]:
    """The devices of ``new`` whose files say something else than under ``old`` (a device new
    in the config has not fetched anything yet: not among them)."""
    if new.provisioning is None or old.provisioning is None:
        return []
    changed = []
    for account in new.accounts:
        for device in account.devices:
            before = find_device(old, device.mac)
            if before is None:
                continue
            try:
                if profile(old, *before, now) != profile(new, account, device, now) or before[1] != device:
                    changed.append((account, device))
            except ValueError:  # no listener for desk phones: nothing to fetch anyway
                continue
    return changed


def check_sync(registrar: RegistrarService, endpoint: SipEndpoint, new_id: Callable[[], str], account: Account,
               device: Device) -> int:
    """Ask the registered phones of ``device`` (bindings of its lines whose User-Agent names its
    vendor) to fetch their files now; how many were asked."""
    vendor = VENDOR[device.model]
    asked = 0
    seen: set[str] = set()
    for number in device.lines:
        for binding in registrar.table.lookup(account.name, number, registrar.clock()):
            if vendor not in binding.user_agent.lower() or binding.uri in seen:
                continue
            seen.add(binding.uri)
            address = str(NameAddr(SipUri("sip", account.domain, number)))
            try:
                notify = new_request("NOTIFY", parse_uri(binding.uri), endpoint.new_via(binding.target.transport),
                                     f"{address};tag={new_id()}", address, f"{new_id()}{new_id()}",
                                     [Header("Event", EVENT), Header("Subscription-State", "terminated")], route=binding.path)
            except RemoteProtocolError:
                continue
            log.info("provisioning: %s (%s) asked to fetch its files again (check-sync NOTIFY to %s)", device.mac,
                     account.name, binding.uri)
            endpoint.send_request(notify, binding.target, lambda response: None)
            asked += 1
    return asked
