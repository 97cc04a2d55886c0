"""The configuration schema (pydantic v2): strict shapes, ranges, unknown keys rejected.

Rules that relate several entries (one number length per account, unique
numbers and domains, one default account) live in ``rules.py`` so that they
are reported together with field errors in one pass.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ..dialplan.destination import DESTINATION_HELP, NAME_RE, NUMBER_RE
from ..dialplan.destination import parse_destination as parse_destination  # re-exported for the services
from ..dialplan.timerules import When, parse_dates, parse_days, parse_hours

ALIAS_RE = re.compile(r"[A-Za-z0-9_-]+\Z")
DOMAIN_RE = re.compile(r"(?=.{1,253}\Z)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
OUTSIDE_RE = re.compile(r"\+?[0-9]{3,20}\Z")


DigestAlgorithm = Literal["MD5", "SHA-256"]
Permission = Literal["internal", "local", "mobile", "international"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_extension_number(value: str) -> str:
    if not value.isascii() or not value.isdigit():
        raise ValueError(f"extension number {value!r} must be digits only")
    if not NUMBER_RE.match(value):
        raise ValueError(f"extension number {value!r} must not be 0 or start with 0")
    return value


def _check_ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None
    return value


def _check_networks(value: list[str]) -> list[str]:
    for text in value:
        try:
            ipaddress.ip_network(text)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a network such as 192.168.1.0/24 ({exc})") from None
    return value


def _check_http_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


class Listen(Strict):
    transport: Literal["udp", "tcp", "tls", "ws", "wss"] = Field(description="SIP transport (ws, wss: SIP over "
                                                                   "WebSocket for browser phones, RFC 7118)")
    address: str = Field(description="IP address to bind (IPv4 or IPv6)")
    port: int = Field(5060, ge=1, le=65535, description="port to bind")

    @field_validator("address")
    @classmethod
    def _ip(cls, value: str) -> str:
        return _check_ip(value)


class Tls(Strict):
    certificate: Path = Field(description="PEM certificate chain")
    private_key: Path = Field(description="PEM private key")


class Timers(Strict):
    t1: float = Field(0.5, gt=0, le=10, description="RFC 3261 T1, seconds")
    t2: float = Field(4.0, gt=0, le=60, description="RFC 3261 T2, seconds")
    t4: float = Field(5.0, gt=0, le=60, description="RFC 3261 T4, seconds")


class Registration(Strict):
    default_expires: int = Field(3600, ge=60, le=86400)
    min_expires: int = Field(60, ge=1, le=3600)
    max_expires: int = Field(3600, ge=60, le=86400)
    max_contacts: int = Field(5, ge=1, le=100, description="bindings per extension; the oldest is replaced when full")

    @model_validator(mode="after")
    def _order(self) -> Registration:
        if not self.min_expires <= self.default_expires <= self.max_expires:
            raise ValueError("need min_expires <= default_expires <= max_expires")
        return self


class Keepalive(Strict):
    mode: Literal["nat", "all", "off"] = Field("nat", description="which UDP contacts get OPTIONS pings")
    interval: float = Field(25.0, ge=5, le=600, description="seconds between pings (25-30 keeps NAT bindings open)")
    failures: int = Field(2, ge=1, le=10, description="unanswered pings before the flow's contacts are dropped")


class RequestLimits(Strict):
    """Requests one source address may send within ``security.rate_window`` seconds, by kind;
    one more bans it for ``ban_time`` (0: no limit).  The defaults are a busy phone's worst
    burst several times over; put offices behind one NAT address in ``trusted_networks``."""

    registrations: int = Field(60, ge=0, le=1_000_000, description="REGISTERs (a phone with 6 lines sends 12 at boot, "
                               "the challenge rounds included)")
    calls: int = Field(60, ge=0, le=1_000_000, description="INVITEs outside a dialog (2 a call: the challenge round)")
    subscriptions: int = Field(300, ge=0, le=1_000_000, description="SUBSCRIBEs outside a dialog (2 a BLF key at boot)")
    other: int = Field(60, ge=0, le=1_000_000, description="other requests outside a dialog: OPTIONS, MESSAGE, NOTIFY ...")
    in_dialog: int = Field(1000, ge=0, le=1_000_000, description="requests inside dialogs, ACK, CANCEL and responses")


class Security(Strict):
    auth_algorithms: list[DigestAlgorithm] = Field(
        default_factory=lambda: list[DigestAlgorithm](["MD5"]), min_length=1,
        description="digest algorithms offered, most preferred first. SHA-256 (RFC 8760) is opt-in: "
        "some clients (baresip/libre 1.x) fail outright when any challenge names an algorithm they lack",
    )
    nonce_lifetime: float = Field(300, ge=10, le=3600)
    ban_threshold: int = Field(10, ge=1, le=100000, description="failed authentications from one source ...")
    ban_window: float = Field(60, ge=1, le=86400, description="... within this many seconds ...")
    ban_time: float = Field(300, ge=1, le=86400, description="... ban the source for this long (every ban lasts this long)")
    rate_window: float = Field(10, ge=1, le=3600, description="seconds max_requests count over (a sliding window)")
    max_requests: RequestLimits = Field(default_factory=RequestLimits)
    max_unanswered_challenges: int = Field(
        100, ge=0, le=1_000_000, description="401/407s sent to one source that it did not come back from with "
        "credentials, within challenge_window; one more bans it (0: no limit)")
    challenge_window: float = Field(60, ge=1, le=86400)
    trusted_networks: list[str] = Field(
        default_factory=list, description="networks (CIDR) exempt from the request and challenge limits, such as an "
        "office behind one NAT address; failed authentications still count. Trunks' addresses are always exempt")
    ipv6_prefix: int = Field(64, ge=32, le=128, description="an IPv6 source is counted and banned by its network of "
                             "this many bits (a subscriber holds a /64 or more and may send from any address in it); "
                             "128: each address alone")
    max_subscriptions: int = Field(
        500, ge=1, le=100_000, description="subscriptions (BLF keys, message waiting) one extension holds at once, its "
        "phones together (a phone with expansion modules watches up to ~200 keys, and a reboot leaves the old ones "
        "until they expire); past it the one refreshed longest ago is ended")
    max_sources: int = Field(50000, ge=100, le=10_000_000, description="sources counted at once: beyond it the least "
                             "recently seen are forgotten, so a flood from spoofed addresses cannot grow memory")

    _networks = field_validator("trusted_networks")(staticmethod(_check_networks))


class Overload(Strict):
    """Load shedding (README "Overload"): new calls get 503 with Retry-After, before any work is
    spent on them, when one of these is passed; REGISTERs, requests inside dialogs and calls
    already up are never shed."""

    max_call_rate: float = Field(0, ge=0, le=100000, description="new calls per second admitted (a second's worth "
                                 "may come at once); 0: no ceiling")
    max_delay: float = Field(0.25, ge=0.01, le=10, description="seconds a request may wait before it is handled (the "
                             "event loop running late, datagrams queued in the kernel) before new calls are shed, until "
                             "it is back under half of it")
    hold: float = Field(2, ge=0, le=600, description="seconds shedding for delay lasts at least")
    port_reserve: int = Field(20, ge=0, le=100000, description="relay port pairs kept free for calls already up")
    retry_after: tuple[int, int] = Field((5, 20), description="[low, high]: seconds a shed call's Retry-After is "
                                         "drawn from, so refused callers do not all come back at once")

    @model_validator(mode="after")
    def _range(self) -> Overload:
        low, high = self.retry_after
        if not 0 <= low <= high <= 3600:
            raise ValueError("retry_after must be [low, high] with 0 <= low <= high <= 3600")
        return self


class Transport(Strict):
    tcp_idle_timeout: float = Field(900, ge=10, le=86400, description="close idle TCP/TLS connections after this")
    udp_receive_buffer: int = Field(4194304, ge=65536, le=268435456, description="bytes of datagrams the kernel may "
                                    "queue for the switch (it doubles this; past net.core.rmem_max only with CAP_NET_ADMIN): a burst of thousands "
                                    "of small requests waits there; new calls are shed before it fills with INVITEs "
                                    "(overload.max_delay); beyond it the kernel drops, counted as udp_dropped")
    max_message_size: int = Field(65535, ge=1500, le=1048576)
    max_connections: int = Field(4096, ge=16, le=1_000_000, description="TCP, TLS and WebSocket connections open at "
                                 "once; a new one past it is closed at once and counted (the process's open files are "
                                 "raised to fit it and the relay's ports, or these are shrunk to fit them)")
    tcp_auth_timeout: float = Field(30, ge=5, le=86400, description="close a TCP, TLS or WebSocket connection that "
                                    "has carried no authenticated request (a registration, a call, a subscription) this "
                                    "many seconds after it opened (trunks and security.trusted_networks are exempt)")
    max_connections_per_source: int = Field(100, ge=1, le=1_000_000, description="connections one address may hold "
                                            "open at once (trunks and security.trusted_networks are exempt: put an office "
                                            "behind one NAT address there)")


class Store(Strict):
    url: str = Field("sqlite+aiosqlite:///softswitch.db", description="SQLAlchemy async URL")
    flush_interval: float = Field(0.2, gt=0, le=10, description="seconds between batched writes")


PARK_CODE_RE = re.compile(r"\*[0-9]{1,6}\Z")


def is_recording_name(value: str) -> bool:
    """A name of the account's recordings (``hold-music``), not a file (``/srv/hold.wav``)."""
    return bool(NAME_RE.match(value)) and "." not in value


def _check_park_destination(value: str, field: str | None) -> str:
    if value == "parker" and field == "fallback":
        raise ValueError("the fallback is where a call goes when the parker does not answer: an extension or 'hangup'")
    if value not in ("parker", "hangup"):
        check_extension_number(value)
    return value


class Transfers(Strict):
    """Call transfer (SPEC "Transfers"): where a blind transfer that nobody answered goes, and
    the keys that transfer from a phone without a transfer button."""

    fallback: str = Field("transferor", description="when a blind transfer's target does not answer and the "
                          "transferor has hung up: 'transferor' (ring it back), an extension or group number, or 'hangup'")
    transferor_ring_time: float = Field(30, ge=5, le=600, description="seconds the transferor's phones ring back")
    blind_code: str = Field("##", description="typed in a call, then the number and '#' (or a 3 s pause): blind transfer")

    @field_validator("fallback")
    @classmethod
    def _fallback(cls, value: str) -> str:
        if value not in ("transferor", "hangup"):
            check_extension_number(value)
        return value

    @field_validator("blind_code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not 1 <= len(value) <= 4 or any(c not in "0123456789*#" for c in value):
            raise ValueError(f"transfer code {value!r} must be 1 to 4 keys of 0-9, * and #")
        return value


class Pickup(Strict):
    """Call pick-up codes (SPEC "Transfers, pick-up and presence")."""

    group_code: str = Field("*8", description="dialled to answer a call ringing any extension of one's pick-up groups")
    directed_prefix: str = Field("**", description="dialled before an extension's number to answer the call ringing it")

    @field_validator("group_code", "directed_prefix")
    @classmethod
    def _code(cls, value: str) -> str:
        if not 1 <= len(value) <= 4 or any(c not in "0123456789*#" for c in value) or value[0].isdigit():
            raise ValueError(f"pick-up code {value!r} must be 1 to 4 keys of 0-9, * and #, not starting with a digit")
        return value


class Voicemail(Strict):
    """Mailboxes (SPEC "Voicemail, recording, supervision"): a call to an extension that does not
    answer (no answer in time, busy, do not disturb, no phone registered) leaves a message."""

    enabled: bool = Field(True, description="every extension has a mailbox unless it says voicemail: false "
                          "(and its person's plan must include voicemail)")
    directory: Path | None = Field(None, description="where the account's messages are written (made 0700); "
                                   "default: voicemail/<account> in the switch's working directory")
    max_seconds: float = Field(120, ge=5, le=3600, description="a message longer than this is cut (the caller hears "
                               "goodbye)")
    silence_seconds: float = Field(10, ge=0, le=60, description="a caller silent this long has finished the message "
                                   "(the caller hears goodbye; the quiet end is not kept); 0: only #, hanging up or the "
                                   "maximum end it")
    greeting: str | None = Field(None, description="a recording of the account played before the tone instead of "
                                 "the switch's \"<number> is not available. Please leave a message after the tone.\" "
                                 "(an extension's own greeting, recorded from its phone with *97 then 0, comes first)")
    listen_code: str = Field("*97", description="dialled from an extension's own phone to hear its messages")
    remote_code: str = Field("*98", description="dialled with a mailbox's number (*98102) from another phone of the "
                             "account to hear that mailbox's messages, after its voicemail_pin")
    email: bool = Field(True, description="a new message is e-mailed, the WAV attached, to the mailbox's person's "
                        "address (through notify.smtp)")
    unsolicited_mwi: bool = Field(False, description="a phone that does not subscribe to its message-summary still "
                                  "gets a NOTIFY at each change, outside any dialog (only for phones configured to expect "
                                  "it; RFC 3842 wants a subscription)")
    webhook: str | None = Field(None, description="a URL POSTed a JSON document about every new message")

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"webhook {value!r} must be an http:// or https:// URL")
        return value

    @field_validator("listen_code", "remote_code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not KEY_CODE_RE.match(value):
            raise ValueError(f"code {value!r}: '*' or '#' then 1 to 5 keys (0-9, *, #), such as *97")
        return value

    @model_validator(mode="after")
    def _codes(self) -> Voicemail:
        if self.remote_code.startswith(self.listen_code) or self.listen_code.startswith(self.remote_code):
            raise ValueError(f"voicemail codes {self.listen_code} and {self.remote_code} must differ, and neither may "
                             "begin the other")
        return self


class Supervision(Strict):
    """Supervisor codes (SPEC "Voicemail, recording, supervision"): a supervisor dials a code
    and the agent's number (*221102) to listen, whisper or barge; keys switch the mode."""

    listen_code: str = Field("*221", description="dialled before an agent's number: hear both parties, heard by nobody")
    whisper_code: str = Field("*222", description="dialled before an agent's number: hear both, heard by the agent only")
    barge_code: str = Field("*223", description="dialled before an agent's number: everybody hears everybody")
    listen_key: str = Field("4", description="pressed while monitoring: listen")
    whisper_key: str = Field("5", description="pressed while monitoring: whisper")
    barge_key: str = Field("6", description="pressed while monitoring: barge")
    beep: bool = Field(False, description="the agent hears a short beep when a supervisor joins its call "
                       "(default: no indication)")

    @field_validator("listen_code", "whisper_code", "barge_code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not 2 <= len(value) <= 5 or any(c not in "0123456789*#" for c in value) or value[0].isdigit():
            raise ValueError(f"supervision code {value!r} must be 2 to 5 keys of 0-9, * and #, not starting with a digit")
        return value

    @field_validator("listen_key", "whisper_key", "barge_key")
    @classmethod
    def _key(cls, value: str) -> str:
        if len(value) != 1 or value not in "0123456789*#":
            raise ValueError(f"supervision key {value!r} must be one key: 0-9, * or #")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> Supervision:
        codes = (self.listen_code, self.whisper_code, self.barge_code)
        if any(a != b and b.startswith(a) for a in codes for b in codes) or len(set(codes)) < 3:
            raise ValueError(f"supervision codes {', '.join(codes)} must differ, and none may begin another")
        if len({self.listen_key, self.whisper_key, self.barge_key}) < 3:
            raise ValueError("supervision keys must differ")
        return self


class ParkOverride(Strict):
    """A site's own park settings; what it leaves out comes from the account's."""

    first_slot: int | None = Field(None, ge=1, le=999999)
    last_slot: int | None = Field(None, ge=1, le=999999)
    assignment: Literal["sequential", "random"] | None = None
    expiry: float | None = Field(None, ge=5, le=86400)
    on_expiry: str | None = None
    fallback: str | None = None
    parker_ring_time: float | None = Field(None, ge=5, le=600)
    repark_window: float | None = Field(None, ge=0, le=3600)
    music: str | None = None

    @field_validator("on_expiry", "fallback")
    @classmethod
    def _destination(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _check_park_destination(value, info.field_name)

    @field_validator("music")
    @classmethod
    def _music(cls, value: str | None) -> str | None:
        if value is not None and not is_recording_name(value) and not Path(value).is_file():
            raise ValueError(f"music file {value!r} does not exist")
        return value


class Park(Strict):
    """Call park (SPEC "Call park"): slots ``*<first_slot>`` .. ``*<last_slot>`` per account."""

    code: str = Field("*85", description="dialled (as a transfer target or in a call) to park: the switch picks the slot")
    first_slot: int = Field(801, ge=1, le=999999, description="lowest slot; its code is '*' + the number")
    last_slot: int = Field(899, ge=1, le=999999)
    assignment: Literal["sequential", "random"] = Field(
        "sequential", description="next free slot (what BLF park keys need), or any free slot")
    expiry: float = Field(300, ge=5, le=86400, description="seconds a call stays parked before on_expiry")
    on_expiry: str = Field("parker", description="'parker' (ring whoever parked it), an extension or group number, or 'hangup'")
    fallback: str = Field("hangup", description="when the parker does not answer: an extension or group number, or 'hangup'")
    parker_ring_time: float = Field(30, ge=5, le=600, description="seconds the parker's phones ring on expiry")
    repark_window: float = Field(30, ge=0, le=3600, description="a call picked up and parked again within this "
                                 "many seconds returns to its old slot")
    music: str | None = Field(None, description="what the parked party hears: a recording of the account (its name) or "
                              "a sound file (default: the switch's own music)")

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not PARK_CODE_RE.match(value):
            raise ValueError(f"park code {value!r} must be '*' followed by digits")
        return value

    @field_validator("on_expiry", "fallback")
    @classmethod
    def _destination(cls, value: str, info: ValidationInfo) -> str:
        return _check_park_destination(value, info.field_name)

    @field_validator("music")
    @classmethod
    def _music(cls, value: str | None) -> str | None:
        return ParkOverride._music(value)

    def for_site(self, site: Site | None) -> Park:
        """These settings with ``site``'s overrides applied."""
        if site is None or site.park is None:
            return self
        changes = {k: v for k, v in site.park.model_dump().items() if v is not None}
        merged = self.model_copy(update=changes)
        if merged.first_slot > merged.last_slot:
            return self  # rules.py reports it
        return merged


class Site(Strict):
    name: str
    park: ParkOverride | None = None


class Media(Strict):
    address: str | None = Field(None, description="IP address RTP is received on; default: the first SIP listen address")
    advertised_address: str | None = Field(None, description="address written in SDP, if not `address` (a public IP before NAT)")
    port_min: int = Field(10000, ge=1024, le=65534, description="lowest RTP port (RTP even, RTCP the odd one above)")
    port_max: int = Field(20000, ge=1026, le=65535, description="highest RTP port")
    inactivity_timeout: float = Field(60, ge=5, le=3600, description="end a call whose RTP stopped both ways this long")
    engine: Literal["relay", "rtpengine"] = Field("relay", description="what carries two-party calls' RTP: the switch's "
                                                 "own relay, or rtpengine (driven over its ng protocol; calls the switch "
                                                 "must hear or speak into stay on the relay, see README)")
    rtpengine: str | None = Field(None, description="rtpengine's ng control address, udp:HOST:PORT (its --listen-ng)",
                                  pattern=r"^udp:[^:]+:[0-9]{1,5}$")
    rtpengine_dtmf: str | None = Field(None, description="HOST:PORT the switch reads rtpengine's DTMF log on (give "
                                       "rtpengine --dtmf-log-dest=HOST:PORT): key presses on calls it carries",
                                       pattern=r"^[^:]+:[0-9]{1,5}$")

    @model_validator(mode="after")
    def _range(self) -> Media:
        if self.port_max - self.port_min < 4:
            raise ValueError("need port_min + 4 <= port_max (one call uses two RTP/RTCP pairs)")
        if self.engine == "rtpengine" and (self.rtpengine is None or self.rtpengine_dtmf is None):
            raise ValueError("engine rtpengine needs rtpengine: udp:HOST:PORT (its --listen-ng) and rtpengine_dtmf: "
                             "HOST:PORT (its --dtmf-log-dest: the keys phones press)")
        for value in (self.address, self.advertised_address):
            if value is not None:
                _check_ip(value)
        return self


class NumberClass(Strict):
    name: Literal["local", "mobile", "international"] = Field(description="the call permission a number of this class needs")
    pattern: str = Field(description="regular expression the whole normalised number must match")

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"pattern {value!r} is not a regular expression: {exc}") from None
        return value


def _vietnam() -> list[NumberClass]:
    """SPEC "Call permission": landlines 02 (10-11 digits), mobiles 03/05/07/08/09 (10 digits),
    international 00 or + other than +84 (which normalises to a national number)."""
    return [
        NumberClass(name="local", pattern=r"02[0-9]{8,9}"),
        NumberClass(name="mobile", pattern=r"0[35789][0-9]{8}"),
        NumberClass(name="international", pattern=r"00[1-9][0-9]{5,15}"),
    ]


class Numbering(Strict):
    country_code: str = Field("84", pattern=r"^[1-9][0-9]{0,3}$", description="'+<cc>' numbers are dialled as '0' + national number")
    classes: list[NumberClass] = Field(default_factory=_vietnam, description="outside number classes, first match wins")


class Calls(Strict):
    ring_timeout: float = Field(30, ge=1, le=600, description="seconds an extension rings before the caller gets 480")
    max_forks: int = Field(10, ge=1, le=50, description="devices rung at once for one extension")
    outbound_timeout: float = Field(120, ge=5, le=600, description="seconds an outside number may ring before the caller gets 480")


class Messages(Strict):
    """Text messages between phones (SIP MESSAGE, RFC 3428; README "Messages")."""

    max_size: int = Field(1300, ge=1, le=65535, description="largest body in bytes; a larger one gets 413 (RFC 3428: "
                          "1300 bytes where congestion control is not known, and phones are reached over UDP)")
    rate: int = Field(20, ge=1, le=10000, description="messages one extension may send within `window`; more get 503 "
                      "with Retry-After")
    window: float = Field(10, ge=1, le=3600, description="seconds of the rate limit's sliding window")
    wait: float = Field(2, ge=0, le=16, description="seconds the sender's answer waits for a device's: 200 when one "
                        "took it, else 202 Accepted")


class Routing(Strict):
    """How a call to the extension rings (SPEC "Routing type")."""

    type: Literal["simultaneous", "designated"] = Field("simultaneous", description="every registered device at once, or an outside number")
    primary: str | None = Field(None, description="designated: the outside number rung first")
    backup: str | None = Field(None, description="designated: rung when the primary fails, is busy or does not answer")
    primary_timeout: float = Field(20, ge=1, le=600, description="seconds the primary rings before the backup")
    backup_timeout: float = Field(30, ge=1, le=600)

    @model_validator(mode="after")
    def _numbers(self) -> Routing:
        if self.type == "designated" and not self.primary:
            raise ValueError("routing type 'designated' needs a primary number")
        for value in (self.primary, self.backup):
            if value is not None and not OUTSIDE_RE.match(value):
                raise ValueError(f"{value!r} is not a phone number (digits, optionally after '+')")
        return self


RecordingMode = Literal["always", "never", "on_demand"]
RecordingSay = Literal["always", "never"]  # a group's or a hotline's: nobody there types a code
KEY_CODE_RE = re.compile(r"[*#][0-9*#]{1,5}\Z")


class Recording(Strict):
    """Call recording for an account (SPEC "Call recording"): one stereo WAV per call, the
    caller's side left and the other party right, linked from the call's history row."""

    mode: RecordingMode = Field("never", description="'always': every answered call of the account is recorded, "
                                "unless each of its extensions (and the group or hotline it came through) says "
                                "'never'; 'never': only calls one of them says 'always' for; 'on_demand': an "
                                "extension starts and stops the recording of its call by typing the key code")
    key: str = Field("*1", description="the code an extension recording on demand types during a call to start, "
                     "pause and resume its recording")
    directory: Path | None = Field(None, description="where the account's recordings are written (made 0700); "
                                   "default: recordings/<account> in the switch's working directory")
    pause_when_parked: bool = Field(True, description="a parked call's recording waits for the pick-up "
                                    "(the music is not recorded)")
    retention_days: int | None = Field(None, ge=1, le=36500, description="recordings of calls older than this are "
                                       "deleted (checked hourly; the history rows stay, marked); default: kept")
    announce: str | None = Field(None, description="a prompt both parties hear when a call recorded by policy is "
                                 "answered: a recording of the account, or the switch's 'recorded-call' (\"This call may "
                                 "be recorded.\"); default: none")

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not KEY_CODE_RE.match(value):
            raise ValueError(f"key code {value!r}: '*' or '#' then 1 to 5 keys (0-9, *, #), such as *1")
        return value


class Extension(Strict):
    number: str
    password: str = Field(min_length=6, max_length=128)
    call_permission: Permission = Field(
        "internal", description="highest class of number this extension may call; 'internal' by default, so a "
        "leaked password cannot run up a phone bill until the operator grants more",
    )
    ring_timeout: float | None = Field(None, ge=1, le=600, description="overrides calls.ring_timeout")
    routing: Routing = Field(default_factory=Routing)
    outbound_numbers: list[str] | None = Field(
        None, description="hotline numbers shown as caller ID when calling out, used in rotation (default: the account's)")
    outbound_group: str | None = Field(None, description="a named group of the account's outbound_groups whose numbers "
                                       "its outside calls show, in a rotation the group's extensions share")
    alias: str | None = None
    display_name: str | None = Field(None, max_length=100)
    department: str | None = None
    site: str | None = None
    description: str | None = None
    person: str | None = Field(None, description="the id of the person (the account's people) it belongs to: "
                               "history, plans and audit follow the person across renumbering")
    dnd: bool = Field(False, description="do not disturb: direct calls get 486, groups skip it")
    supervisors: list[str] = Field(default_factory=list, description="extension or group numbers of this account "
                                   "whose members may listen to, whisper to and barge into its calls")
    recording: RecordingMode | None = Field(None, description="'always', 'never' or 'on_demand' (its phone types "
                                            "recording.key) for calls this extension makes or answers (default: the "
                                            "account's recording.mode)")
    voicemail: bool | None = Field(None, description="whether calls it does not answer go to its mailbox (default: "
                                   "the account's voicemail.enabled)")
    voicemail_pin: str | None = Field(None, pattern=r"^[0-9]{4,12}$", description="4 to 12 digits: its mailbox can be "
                                      "heard from another phone (voicemail.remote_code and its number); none: only "
                                      "from its own phone")

    @field_validator("number")
    @classmethod
    def _number(cls, value: str) -> str:
        return check_extension_number(value)

    @field_validator("alias")
    @classmethod
    def _alias(cls, value: str | None) -> str | None:
        if value is not None and not ALIAS_RE.match(value):
            raise ValueError(f"alias {value!r} may hold only ASCII letters, digits, '_' and '-'")
        return value


class Group(Strict):
    """A hunt group (SPEC "Groups"): a number of the extension plan ringing member extensions."""

    number: str = Field(description="dialled like an extension (same length)")
    name: str | None = None
    strategy: STRATEGIES = Field(
        "ringall", description="ringall: all at once; linear: in list order; rrmemory: in turn, starting after the "
        "member who last answered; memoryhunt: 1, then 1+2, then 1+2+3 ...; leastrecent: longest idle first; random")
    members: Annotated[list[str], Field(min_length=1, description="extension numbers, in order")]
    member_ring_time: float = Field(15, ge=1, le=600, description="seconds each member (or step) rings")
    ring_time: float = Field(60, ge=1, le=3600, description="seconds the whole group rings at most")
    overflow: str = Field("hangup", description="when nobody answers: an extension or group number, or 'hangup'")
    recording: RecordingSay | None = Field(None, description="'always' or 'never' for the calls it rings "
                                            "(default: the account's recording.mode)")

    @field_validator("number")
    @classmethod
    def _number(cls, value: str) -> str:
        return check_extension_number(value)


def _destination(value: str) -> str:
    parse_destination(value)
    return value


def _checked(parse: Callable[[str], object]) -> Callable[[str], str]:
    def check(value: str) -> str:
        parse(value)
        return value
    return check


def _recording(path: Path) -> Path:
    if not path.is_file():
        raise ValueError(f"file {str(path)!r} does not exist")
    from ..media.audio import SoundError, describe

    try:
        describe(path)
    except SoundError as exc:
        raise ValueError(str(exc)) from None
    return path


class ScenarioRule(Strict):
    """One time rule of a hotline's scenario: when it applies (every condition given must
    hold, on the account's clock) and where the call then goes."""

    name: str | None = Field(None, description="what the rule is for (shown in the log and the call's path)")
    days: list[Annotated[str, AfterValidator(_checked(parse_days))]] | None = Field(
        None, description="weekdays: mon ... sun, or ranges such as mon-fri")
    hours: list[Annotated[str, AfterValidator(_checked(parse_hours))]] | None = Field(
        None, description="HH:MM-HH:MM spans, end not included; 22:00-06:00 runs past midnight")
    dates: list[Annotated[str, AfterValidator(_checked(parse_dates))]] | None = Field(
        None, description="YYYY-MM-DD, MM-DD (every year), or ranges a..b: holidays")
    destination: str = Field(description=DESTINATION_HELP)

    @field_validator("destination")
    @classmethod
    def _where(cls, value: str) -> str:
        return _destination(value)

    @model_validator(mode="after")
    def _some_condition(self) -> ScenarioRule:
        if self.days is None and self.hours is None and self.dates is None:
            raise ValueError("a rule needs days, hours or dates (what applies at all other times is the hotline's destination)")
        return self

    @property
    def when(self) -> When:
        return When.parse(self.days, self.hours, self.dates)


STRATEGIES = Literal["ringall", "linear", "rrmemory", "memoryhunt", "leastrecent", "random"]


class ExternalGroup(Strict):
    """A group of outside numbers rung through a trunk (SPEC "Groups"), reached from a
    hotline's scenario or a menu as ``external:<name>``; the members see the hotline."""

    name: str
    strategy: STRATEGIES = Field("linear", description="as for groups")
    members: Annotated[list[str], Field(min_length=1, description="outside numbers, in order")]
    member_ring_time: float = Field(20, ge=1, le=600)
    ring_time: float = Field(60, ge=1, le=3600)
    trunk: str | None = Field(None, description="the trunk the members are rung through (default: the account's)")
    confirm: bool = Field(False, description="a member takes the call only by pressing 1 (a mobile's voicemail cannot)")
    confirm_prompt: str = Field("press-one", description="what a member hears before pressing 1")
    confirm_timeout: float = Field(10, ge=2, le=60, description="seconds a member who answered has to press 1")
    sms: bool = Field(False, description="text each member rung: the call missed, or taken (needs the sms provider)")
    overflow: str = Field("hangup", description=f"when nobody takes the call: {DESTINATION_HELP}")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError(f"external group name {value!r}: use lower-case letters, digits, '_' and '-'")
        return value

    @field_validator("members")
    @classmethod
    def _members(cls, value: list[str]) -> list[str]:
        for number in value:
            if not OUTSIDE_RE.match(number):
                raise ValueError(f"{number!r} is not a phone number (digits, optionally after '+')")
        return value

    @field_validator("overflow")
    @classmethod
    def _where(cls, value: str) -> str:
        return _destination(value)


class Hotline(Strict):
    number: str = Field(description="the DID as the provider sends it (national or +E.164)")
    trunk: str = Field(description="the trunk it arrives on")
    destination: str = Field(description=f"where calls go when no scenario rule applies: {DESTINATION_HELP}")
    scenario: list[ScenarioRule] = Field(default_factory=list, description="time rules, the first that applies wins")
    recording: RecordingSay | None = Field(None, description="'always' or 'never' for the calls it brings in "
                                            "(default: the account's recording.mode)")

    @field_validator("number")
    @classmethod
    def _number(cls, value: str) -> str:
        if not OUTSIDE_RE.match(value):
            raise ValueError(f"hotline {value!r} is not a phone number")
        return value

    @field_validator("destination")
    @classmethod
    def _where(cls, value: str) -> str:
        return _destination(value)


MENU_KEYS = frozenset("0123456789*#")


class Menu(Strict):
    """A key-press menu (IVR): a prompt, then a destination per key."""

    name: str
    prompt: str = Field(description="the recording played (a name from the account's recordings or the switch's prompts)")
    options: dict[str, str] = Field(default_factory=dict, description=f"key (0-9, *, #) -> {DESTINATION_HELP}")
    direct_dial: bool = Field(False, description="callers may also type an extension's number")
    timeout: float = Field(5, ge=1, le=60, description="seconds to wait for a key after the prompt")
    attempts: int = Field(3, ge=1, le=10, description="times the prompt is played (after a timeout or a wrong key) before the fallback")
    invalid_prompt: str = Field("invalid", description="the recording played after a wrong key")
    fallback: str = Field("hangup", description=f"where the call goes after the last attempt: {DESTINATION_HELP}")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError(f"menu name {value!r}: use lower-case letters, digits, '_' and '-'")
        return value

    @field_validator("options", mode="before")
    @classmethod
    def _keys_as_text(cls, value: object) -> object:
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("options")
    @classmethod
    def _options(cls, value: dict[str, str]) -> dict[str, str]:
        for key, where in value.items():
            if key not in MENU_KEYS:
                raise ValueError(f"key {key!r}: a menu key is one of 0-9, * and #")
            _destination(where)
        return value

    @field_validator("fallback")
    @classmethod
    def _where(cls, value: str) -> str:
        return _destination(value)


PERSON_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+\Z")


MAC_RE = re.compile(r"[0-9a-f]{2}([:-]?[0-9a-f]{2}){5}\Z")


def normalise_mac(value: str) -> str:
    """A MAC address as the phones' file names have it: 12 lower-case hex digits."""
    text = value.strip().lower()
    if not MAC_RE.match(text):
        raise ValueError(f"{value!r} is not a MAC address (12 hex digits, with or without ':' or '-')")
    return text.replace(":", "").replace("-", "")


DeviceModel = Literal["yealink", "grandstream", "grandstream-gxp", "fanvil"]
DEVICE_MODELS: tuple[str, ...] = get_args(DeviceModel)


class Device(Strict):
    """A desk phone the switch provisions (issue 17): its files name it by MAC address."""

    mac: str = Field(description="the phone's MAC address (on its label): 12 hex digits, ':' or '-' allowed")
    model: DeviceModel = Field(
        description="the vendor family, which decides the files it asks for and their keys: yealink (T4x, T5x), "
        "grandstream (GRP26xx, GXP21xx 1.0.11 and later: named keys), grandstream-gxp (older GXP firmware: "
        "P-values, one line), fanvil (X series)")
    lines: Annotated[list[str], Field(min_length=1, max_length=16)] = Field(
        description="the extensions on its lines, first line first")
    password: str = Field(min_length=8, max_length=128, description="the phone's own password for fetching its "
                          "files (HTTP digest; its user name is the MAC's 12 hex digits)")
    label: str | None = Field(None, max_length=60, description="what the operator calls it (a desk, a room)")
    site: str | None = None
    park_keys: int = Field(3, ge=0, le=20, description="BLF keys on the first park slots (lit while a call is parked "
                           "there; pressed, they pick it up)")
    blf: list[str] = Field(default_factory=list, max_length=60, description="colleagues' extensions watched on BLF "
                           "keys (pressed while ringing: picked up; else called)")

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str) -> str:
        return normalise_mac(value)


class Provisioning(Strict):
    """The provisioning server: phones fetch their settings over HTTP(S) on its own port."""

    address: str = Field("0.0.0.0", description="address to listen on (phones on the office network reach it)")
    port: int = Field(8089, ge=1, le=65535)
    tls: Tls | None = Field(None, description="certificate and key: HTTPS instead of HTTP")
    allow: list[str] = Field(default_factory=list, description="networks (CIDR) phones may fetch from; none: any")
    repeat_minutes: int = Field(1440, ge=5, le=43200, description="phones fetch their files again this often")
    url: str | None = Field(None, description="the server's address as phones reach it (default: from address, "
                            "port and tls)")
    plug_and_play: bool = Field(False, description="answer phones' SIP plug-and-play SUBSCRIBE (Event: ua-profile; "
                                "multicast to 224.0.1.75:5060) with the provisioning URL: unauthenticated, so only "
                                "on a network you trust (see allow)")
    zoiper_provider: str | None = Field(None, pattern=r"^[0-9a-fA-F]{32}$", description="your Zoiper provider id: "
                                        "Zoiper's QR codes then go through Zoiper's provisioning service")

    @field_validator("address")
    @classmethod
    def _ip(cls, value: str) -> str:
        return _check_ip(value)

    _networks = field_validator("allow")(staticmethod(_check_networks))

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        checked = _check_http_url(value)
        return checked.rstrip("/") if checked else checked

    @model_validator(mode="after")
    def _plug_and_play_on_a_known_network(self) -> Provisioning:
        if self.plug_and_play and not self.allow:
            raise ValueError("plug_and_play answers anyone who asks: set allow to the phones' network(s) too")
        return self


class AccountNotify(Strict):
    """Who hears of changes to the account's people, extensions and plans."""

    emails: list[str] = Field(default_factory=list, description="addresses e-mailed about every change")
    webhook: str | None = Field(None, description="a URL POSTed a JSON document about every change")

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for email in value:
            if not EMAIL_RE.match(email):
                raise ValueError(f"{email!r} is not an e-mail address")
        return value

    _url = field_validator("webhook")(staticmethod(_check_http_url))


class Person(Strict):
    """An employee: extensions, call history, plans and the audit refer to the person by id."""

    id: str = Field(description="stable id (an employee number): letters, digits, '_', '.', '-'")
    name: str = Field(min_length=1, max_length=100)
    email: str | None = Field(None, description="where change notifications to this person go")
    department: str | None = None
    site: str | None = None
    plans: list[str] = Field(default_factory=list, description="the calling plans (names from the top-level plans) "
                             "the person has; none: only the extension's own call permission limits its calls")

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not PERSON_ID_RE.match(value):
            raise ValueError(f"person id {value!r} may hold only ASCII letters, digits, '_', '.' and '-' (at most 64)")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not EMAIL_RE.match(value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value


class Account(Strict):
    name: str
    domain: str
    default: bool = False
    timezone: str = Field("Asia/Ho_Chi_Minh", description="IANA time zone: the clock of scenario rules and text messages")
    brand: str | None = Field(None, max_length=40, description="the name text messages begin with, '(<brand>) ...' "
                              "(default: the account's name)")
    trunk: str | None = Field(None, description="the trunk outside calls of this account go out through")
    hotlines: list[Hotline] = Field(default_factory=list)
    outbound_numbers: list[str] = Field(default_factory=list, description="caller IDs for outside calls, in rotation")
    outbound_groups: dict[str, list[str]] = Field(
        default_factory=dict, description="named groups of hotline numbers (\"nhóm đầu số\") extensions show when "
        "calling out (outbound_group), in rotation")
    sites: list[Site] = Field(default_factory=list)
    park: Park = Field(default_factory=Park)
    transfer: Transfers = Field(default_factory=Transfers)
    pickup: Pickup = Field(default_factory=Pickup)
    voicemail: Voicemail = Field(default_factory=Voicemail, description="mailboxes: calls nobody answers leave a message")
    supervision: Supervision = Field(default_factory=Supervision, description="codes and keys of supervisors "
                                     "monitoring the calls of the extensions that name them")
    pickup_groups: dict[str, list[str]] = Field(
        default_factory=dict, description="pick-up groups by name: extensions that may answer each other's ringing calls with *8")
    people: list[Person] = Field(default_factory=list, description="the employees extensions belong to")
    notify: AccountNotify | None = Field(None, description="who is told of each change made by the command line or the API")
    extensions: list[Extension] = Field(default_factory=list)
    devices: list[Device] = Field(default_factory=list, description="desk phones the switch provisions (provisioning:)")
    groups: list[Group] = Field(default_factory=list)
    menus: list[Menu] = Field(default_factory=list)
    external_groups: list[ExternalGroup] = Field(default_factory=list)
    recordings: dict[str, Annotated[Path, AfterValidator(_recording)]] = Field(
        default_factory=dict, description="prompts and music by name: a WAV, MP3, FLAC or Ogg Vorbis file each")
    recording: Recording = Field(default_factory=Recording, description="call recording (off unless asked for)")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError(f"account name {value!r}: use lower-case letters, digits, '_' and '-'")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone (IANA names such as Asia/Ho_Chi_Minh)") from None
        return value

    @field_validator("recordings")
    @classmethod
    def _recording_names(cls, value: dict[str, Path]) -> dict[str, Path]:
        for name in value:
            if not NAME_RE.match(name):
                raise ValueError(f"recording name {name!r}: use lower-case letters, digits, '_' and '-'")
        return value

    def sound_file(self, recording_or_path: str) -> Path:
        """The file of a recording named in the config, or the path written there."""
        return self.recordings.get(recording_or_path) or Path(recording_or_path)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def menu(self, name: str) -> Menu | None:
        return next((m for m in self.menus if m.name == name), None)

    def external_group(self, name: str) -> ExternalGroup | None:
        return next((g for g in self.external_groups if g.name == name), None)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not DOMAIN_RE.match(value):
            raise ValueError(f"{value!r} is not a domain name")
        return value.lower()

    def extension(self, number: str) -> Extension | None:
        for ext in self.extensions:
            if ext.number == number:
                return ext
        return None

    def group(self, number: str) -> Group | None:
        return next((g for g in self.groups if g.number == number), None)

    def person(self, ident: str) -> Person | None:
        return next((p for p in self.people if p.id == ident), None)

    def site(self, name: str | None) -> Site | None:
        return next((s for s in self.sites if s.name == name), None)

    def park_for(self, extension: Extension | None) -> Park:
        """The park settings that apply to a call parked by ``extension`` (its site's)."""
        return self.park.for_site(self.site(extension.site) if extension is not None else None)


class TrunkRegistration(Strict):
    username: str
    password: str = Field(min_length=1)
    domain: str | None = Field(None, description="the registrar's domain (default: the trunk host)")
    expires: int = Field(300, ge=60, le=86400, description="requested registration lifetime; refreshed before it ends")


class TrunkAuth(Strict):
    username: str
    password: str = Field(min_length=1)


class Trunk(Strict):
    name: str
    host: str = Field(description="the provider's SIP server (IP address or host name)")
    port: int = Field(5060, ge=1, le=65535)
    transport: Literal["udp", "tcp"] = "udp"
    inbound_addresses: list[str] = Field(default_factory=list, description="source IPs whose calls are trusted as this trunk (default: host, if an IP)")
    auth: TrunkAuth | None = Field(None, description="credentials for the provider's digest challenges (default: registration's)")
    registration: TrunkRegistration | None = Field(None, description="register to the provider (else an IP-authenticated peer)")
    number_format: Literal["national", "e164"] = Field("national", description="how numbers are written towards the provider")
    original_caller_in_pai: bool = Field(
        False, description="external groups: P-Asserted-Identity carries the original caller (From shows the hotline); "
        "only for providers that present From and pass P-Asserted-Identity on")

    @field_validator("inbound_addresses")
    @classmethod
    def _ips(cls, value: list[str]) -> list[str]:
        return [_check_ip(v) for v in value]

    @property
    def trusted(self) -> list[str]:
        if self.inbound_addresses:
            return self.inbound_addresses
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return []
        return [self.host]

    @property
    def credentials(self) -> tuple[str, str] | None:
        if self.auth is not None:
            return (self.auth.username, self.auth.password)
        if self.registration is not None:
            return (self.registration.username, self.registration.password)
        return None


class SmsWebhook(Strict):
    """Text messages through an HTTP webhook.  ``url`` and ``body`` are templates: ``{to}``
    (the member's number), ``{text}`` and ``{brand}``, each written as the place needs it
    (URL-encoded in the URL, JSON-escaped in a JSON body, form-encoded in a form body)."""

    provider: Literal["webhook"] = "webhook"
    url: str = Field(description="http(s) URL, a template")
    method: Literal["POST", "GET", "PUT"] = "POST"
    content_type: str = Field("application/json", description="of the body")
    body: str = Field('{"to": "{to}", "text": "{text}"}', description="a template")
    headers: dict[str, str] = Field(default_factory=dict, description="sent as they are (an API key ...)")
    timeout: float = Field(10, gt=0, le=60, description="seconds to wait for the provider")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value


class Server(Strict):
    listen: Annotated[list[Listen], Field(min_length=1)]
    tls: Tls | None = None
    advertised_address: str | None = Field(None, description="address written in Via/Contact, if not the bound one")


class Cluster(Strict):
    """Several switch processes (nodes) behind an edge proxy (Kamailio), sharing one PostgreSQL
    store: registrations (with the edge's Path), park slots, routing's memory, bans and the nonce
    secret (README "Running several nodes")."""

    node: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="this node's name, unique in the cluster")
    edges: list[str] = Field(min_length=1, description="networks (CIDR) of the edge proxies: the Path they add to a "
                             "REGISTER is kept (from anywhere else it is ignored) and their address is not rate-limited")
    heartbeat: float = Field(2, ge=0.2, le=60, description="seconds between this node's heartbeats in the store")
    dead_after: float = Field(10, ge=1, le=3600, description="a node whose heartbeat is this old is dead ...")
    park_grace: float = Field(30, ge=0, le=3600, description="... and its park slots are released this long after")
    resync: float = Field(30, ge=1, le=3600, description="seconds between full re-reads of the shared registrations "
                          "(changes arrive at once by PostgreSQL notifications; this catches any missed)")

    _networks = field_validator("edges")(staticmethod(_check_networks))

    @model_validator(mode="after")
    def _death(self) -> Cluster:
        if self.dead_after < 3 * self.heartbeat:  # one late beat (a slow store) must not make a live node dead
            raise ValueError(f"dead_after ({self.dead_after:g} s) must be at least 3 heartbeats "
                             f"({3 * self.heartbeat:g} s): a node one late beat behind is not dead")
        return self


class Admin(Strict):
    socket: str = Field("softswitch.sock", description="Unix control socket the command line asks for live state")


PlanFeature = Literal["outside", "international", "park", "recording", "voicemail"]
PLAN_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}\Z")


class Plan(Strict):
    """A calling plan (package) people are given (SPEC "Calling plans (packages)")."""

    name: str
    status: Literal["active", "legacy"] = Field("active", description="people with legacy plans only are listed as Inactive")
    retire_on: dt.date | None = Field(None, description="a legacy plan's last day is the day before: from then on its "
                                      "people's calls beyond internal are refused")
    permission: Permission = Field(description="the highest call permission it allows (the lower of this and the "
                                   "extension's own applies)")
    features: list[PlanFeature] = Field(default_factory=list, description="outside (landline and mobile calls), "
                                        "international, park, recording, voicemail")
    minutes: dict[Literal["local", "mobile", "international"], int] | None = Field(
        None, description="included minutes per month by class of number; outside calls of a class used up are refused")
    seats: int | None = Field(None, ge=1, le=10_000_000, description="at most this many people may have it")
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not PLAN_NAME_RE.match(value):
            raise ValueError(f"plan name {value!r} may hold only ASCII letters, digits, '_', '.', '+' and '-' (at most 64)")
        return value

    @field_validator("minutes")
    @classmethod
    def _minutes(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        for key, minutes in (value or {}).items():
            if minutes < 0:
                raise ValueError(f"{key}: minutes must be 0 or more")
        return value

    @model_validator(mode="after")
    def _retire(self) -> Plan:
        if self.retire_on is not None and self.status != "legacy":
            raise ValueError("retire_on is for legacy plans: set status: legacy")
        return self


class Smtp(Strict):
    host: str
    port: int = Field(25, ge=1, le=65535)
    sender: str = Field(description="the From address")
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = Field(10, gt=0, le=120)


class Notify(Strict):
    smtp: Smtp | None = Field(None, description="the mail server change notifications are sent through")


class ApiToken(Strict):
    name: str = Field(min_length=1, max_length=64, description="who uses it: the audit names changes made with it so")
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="the SHA-256 of the token, in hex (`softswitch api "
                        "token NAME` makes a token and prints both); the token itself is never kept")
    account: str | None = Field(None, description="an account token sees and changes only this account; none: an "
                                "operator token, for everything")


class Api(Strict):
    """The HTTP admin API, served by the switch (its OpenAPI document at /api/openapi.json)."""

    address: str = Field("127.0.0.1", description="address to listen on: loopback unless the API must be reached from "
                         "elsewhere (then set tls)")
    port: int = Field(8088, ge=1, le=65535)
    tls: Tls | None = Field(None, description="certificate and key: HTTPS instead of HTTP")
    tokens: list[ApiToken] = Field(default_factory=list, description="bearer tokens; a request without a valid one gets 401")

    @field_validator("address")
    @classmethod
    def _ip(cls, value: str) -> str:
        return _check_ip(value)


class Config(Strict):
    server: Server
    store: Store = Field(default_factory=Store)
    timers: Timers = Field(default_factory=Timers)
    registration: Registration = Field(default_factory=Registration)
    keepalive: Keepalive = Field(default_factory=Keepalive)
    security: Security = Field(default_factory=Security)
    transport: Transport = Field(default_factory=Transport)
    overload: Overload = Field(default_factory=Overload)
    media: Media = Field(default_factory=Media)
    numbering: Numbering = Field(default_factory=Numbering)
    calls: Calls = Field(default_factory=Calls)
    messages: Messages = Field(default_factory=Messages)
    admin: Admin = Field(default_factory=Admin)
    api: Api | None = Field(None, description="the HTTP admin API; not served unless set")
    provisioning: Provisioning | None = Field(None, description="the phones' provisioning server; not served unless set")
    notify: Notify | None = Field(None, description="how change notifications are sent")
    cluster: Cluster | None = Field(None, description="one node of several sharing a PostgreSQL store; off unless set")
    trunks: list[Trunk] = Field(default_factory=list)
    sms: SmsWebhook | None = Field(None, description="the SMS provider external groups text their members through")
    plans: list[Plan] = Field(default_factory=list, description="calling plans (packages) the accounts' people are given")
    accounts: Annotated[list[Account], Field(min_length=1)]

    def account(self, name: str) -> Account | None:
        return next((a for a in self.accounts if a.name == name), None)

    def trunk(self, name: str | None) -> Trunk | None:
        return next((t for t in self.trunks if t.name == name), None)

    def plan(self, name: str) -> Plan | None:
        return next((p for p in self.plans if p.name == name), None)

    @property
    def default_account(self) -> Account:
        return next((a for a in self.accounts if a.default), self.accounts[0])
