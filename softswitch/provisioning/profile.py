"""What a provisioned phone is told: server, transport, its lines' credentials, its BLF keys,
its clock and when to fetch again, worked out from the config the switch runs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..config import Account, Config
from ..config.schema import Device
from ..ops.login import reachable

PHONE_TRANSPORTS = ("udp", "tcp", "tls")  # what desk phones speak (ws and wss are browsers')


@dataclass(frozen=True)
class Line:
    index: int  # 1-based: the phone's account (line) number
    number: str  # user name and authentication name
    password: str
    display_name: str


@dataclass(frozen=True)
class Key:
    """A BLF key: lit while ``value`` rings or talks (or holds a parked call); pressed, the
    phone dials ``value``, or ``pickup`` + ``value`` while it rings."""

    index: int  # 1-based, after the keys of the phone's own lines
    value: str  # an extension, or a park slot's code (*801)
    label: str
    park: bool  # a park slot's key (pressing it picks the call up: no prefix needed)


@dataclass(frozen=True)
class Profile:
    mac: str
    model: str
    account: str
    domain: str  # the SIP domain phones register in
    proxy: str  # where they send it: an address they can reach
    port: int
    transport: str  # udp | tcp | tls
    expires: int  # registration, seconds
    keepalive: int  # seconds between NAT keep-alives
    lines: tuple[Line, ...]
    keys: tuple[Key, ...]
    pickup_prefix: str  # dialled before a ringing colleague's number
    park_code: str
    utc_offset_minutes: int  # the account's clock now (with summer time where it has one)
    timezone: str  # IANA name
    provisioning_url: str  # where the phone fetches again
    repeat_minutes: int


def sip_listener(config: Config) -> tuple[str, int, str]:
    """The address, port and transport desk phones register to: the first UDP, TCP or TLS listener."""
    spec = next((s for s in config.server.listen if s.transport in PHONE_TRANSPORTS), None)
    if spec is None:
        raise ValueError("the switch listens for no desk phones: server.listen needs udp, tcp or tls")
    return config.server.advertised_address or reachable(spec.address), spec.port, spec.transport


def provisioning_url(config: Config) -> str:
    prov = config.provisioning
    if prov is None:
        raise ValueError("no provisioning server: set 'provisioning' in the config")
    if prov.url:
        return prov.url
    host = config.server.advertised_address or reachable(prov.address)
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if prov.tls else 'http'}://{host}:{prov.port}"


def find_device(config: Config, mac: str) -> tuple[Account, Device] | None:
    for account in config.accounts:
        for device in account.devices:
            if device.mac == mac:
                return account, device
    return None


def profile(config: Config, account: Account, device: Device, now: float) -> Profile:
    """What ``device``'s files say at ``now`` (the clock's offset depends on the date)."""
    proxy, port, transport = sip_listener(config)
    lines = []
    for i, number in enumerate(device.lines, start=1):
        ext = account.extension(number)
        if ext is None:  # the config check forbids it; a device keeps its other lines meanwhile
            continue
        lines.append(Line(i, ext.number, ext.password, ext.display_name or ext.number))
    keys: list[Key] = []
    first = account.park.first_slot
    for slot in range(first, min(first + device.park_keys, account.park.last_slot + 1)):
        keys.append(Key(len(device.lines) + len(keys) + 1, f"*{slot}", f"Park {slot}", park=True))
    for number in device.blf:
        ext = account.extension(number)
        if ext is not None:
            keys.append(Key(len(device.lines) + len(keys) + 1, number, ext.display_name or number, park=False))
    offset = dt.datetime.fromtimestamp(now, account.zone).utcoffset() or dt.timedelta(0)
    assert config.provisioning is not None
    return Profile(
        mac=device.mac, model=device.model, account=account.name, domain=account.domain, proxy=proxy, port=port,
        transport=transport, expires=config.registration.default_expires, keepalive=int(config.keepalive.interval),
        lines=tuple(lines), keys=tuple(keys), pickup_prefix=account.pickup.directed_prefix, park_code=account.park.code,
        utc_offset_minutes=int(offset.total_seconds() // 60), timezone=account.timezone,
        provisioning_url=provisioning_url(config), repeat_minutes=config.provisioning.repeat_minutes)
