"""Softphones set up by QR code (``softswitch extensions qr``): what the code holds for each app.

* Grandstream Wave scans an XML account (``AccountConfig``) with the credentials in it.
* Linphone scans a remote-provisioning URL: the switch's provisioning server serves, once and
  for a limited time, an XML (Linphone's ``lpconfig`` format) with the extension's account.
  The URL's token is a sign-in link (``ops.web_link``): signed with the extension's password,
  so a new password voids it.
* Zoiper: with the operator's Zoiper provider id (``provisioning.zoiper_provider``), Zoiper's
  own QR provisioning link; without one, the account data as text to type in."""

from __future__ import annotations

from urllib.parse import urlencode
from xml.sax.saxutils import escape

from ..config import Account, Config, Extension
from ..ops.web_link import LINPHONE, make_link
from .profile import provisioning_url, sip_listener

APPS = ("gswave", "linphone", "zoiper")
LINPHONE_PATH = "linphone"  # the provisioning server's path for Linphone's XML: /linphone/<token>


def gswave(config: Config, account: Account, extension: Extension) -> str:
    proxy, port, _transport = sip_listener(config)
    fields = [
        ("RegisterServer", account.domain), ("OutboundServer", f"{proxy}:{port}"), ("SecOutboundServer", ""),
        ("UserID", extension.number), ("AuthID", extension.number), ("AuthPass", extension.password),
        ("AccountName", f"{extension.number}@{account.domain}"), ("DisplayName", extension.display_name or extension.number),
        ("Dialplan", "{x+|*x+|**x+}"), ("RandomPort", "0"), ("Voicemail", account.voicemail.listen_code),
    ]
    body = "".join(f"<{tag}>{escape(value)}</{tag}>" for tag, value in fields)
    return f"<?xml version='1.0' encoding='utf-8'?><AccountConfig version='1'><Account>{body}</Account></AccountConfig>"


def linphone_url(config: Config, account: Account, extension: Extension, now: float, valid: float, secret: bytes) -> str:
    token = make_link(account.name, extension, now, valid, secret=secret, purpose=LINPHONE)
    return f"{provisioning_url(config)}/{LINPHONE_PATH}/{token}"


def linphone_xml(config: Config, account: Account, extension: Extension) -> str:
    """The extension's account in Linphone's remote-provisioning format (each entry overwrites
    what the app had; its other accounts' credentials are replaced by this one's)."""
    proxy, port, transport = sip_listener(config)
    host = f"[{proxy}]" if ":" in proxy else proxy
    route = f"<sip:{host}:{port};transport={transport}>"
    display = (extension.display_name or extension.number).replace("\\", "/").replace('"', "'")
    sections = {
        "sip": {"default_proxy": "0"},
        "proxy_0": {"reg_proxy": route, "reg_route": route,
                    "reg_identity": f'"{display}" <sip:{extension.number}@{account.domain}>',
                    "reg_expires": str(config.registration.default_expires), "reg_sendregister": "1", "publish": "0"},
        "auth_info_0": {"username": extension.number, "userid": extension.number, "passwd": extension.password,
                        "realm": account.domain, "domain": account.domain},
        "misc": {"transient_provisioning": "1"},
    }
    body = "".join(
        f'  <section name="{name}">\n' + "".join(
            f'    <entry name="{key}" overwrite="true">{escape(value)}</entry>\n' for key, value in entries.items())
        + "  </section>\n" for name, entries in sections.items())
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<config xmlns="http://www.linphone.org/xsds/lpconfig.xsd">\n' + body + "</config>\n")


def zoiper(config: Config, account: Account, extension: Extension) -> str:
    proxy, port, transport = sip_listener(config)
    provider = config.provisioning.zoiper_provider if config.provisioning is not None else None
    if provider:
        query = urlencode({"provider_id": provider, "u": f"{extension.number}@{account.domain}",
                           "p": extension.password, "a": extension.number})
        return f"https://oem.zoiper.com/qr-howto.php?{query}"
    return (f"Domain: {account.domain}\nUsername: {extension.number}\nPassword: {extension.password}\n"
            f"Outbound proxy: {proxy}:{port}\nTransport: {transport.upper()}\n")


def payload(app: str, config: Config, account: Account, extension: Extension, now: float, valid: float,
            secret: bytes) -> str:
    """What the QR code for ``app`` holds."""
    if app == "gswave":
        return gswave(config, account, extension)
    if app == "linphone":
        return linphone_url(config, account, extension, now, valid, secret)
    if app == "zoiper":
        return zoiper(config, account, extension)
    raise ValueError(f"no app {app!r}: one of {', '.join(APPS)}")
