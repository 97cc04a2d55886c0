"""What a phone needs to log in as an extension, with a server address it can reach."""

from __future__ import annotations

import ipaddress
import socket

from ..config import Account, Config, Extension


def reachable(address: str) -> str:
    """``address`` itself, or for a wildcard (0.0.0.0, ::) the address this machine sends from
    towards the outside (a UDP socket's route choice: nothing is sent)."""
    ip = ipaddress.ip_address(address)
    if not ip.is_unspecified:
        return address
    family, probe = (socket.AF_INET6, "2001:db8::1") if ip.version == 6 else (socket.AF_INET, "192.0.2.1")
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((probe, 9))
            return str(s.getsockname()[0])
    except OSError:  # no route out: loopback is all a phone here could use
        return "::1" if ip.version == 6 else "127.0.0.1"


def login_info(config: Config, account: Account, extension: Extension, password: str | None) -> list[tuple[str, str]]:
    listen = config.server.listen[0]
    server = config.server.advertised_address or reachable(listen.address)
    return [
        ("Domain", account.domain),
        ("Server (proxy)", server),
        ("Port", str(listen.port)),
        ("Transport", listen.transport.upper()),
        ("Other transports", ", ".join(f"{x.transport.upper()} {x.port}" for x in config.server.listen[1:]) or "-"),
        ("Username", extension.number),
        ("Auth username", extension.number),
        ("Password", password if password is not None else "(unchanged)"),
        ("Display name", extension.display_name or extension.number),
        ("Registration expiry", f"{config.registration.default_expires} s"),
    ]
