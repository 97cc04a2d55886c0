"""Routing policy: who rings for a call, in what stages (pure).

Theory of operation
-------------------
The call service asks; this module decides.  Inputs are the config, the directory of
registrations (``lookup``: account, extension, ``now`` -> bindings), what routing
remembers between calls (``HuntMemory``: who answered a group last, since when each
extension is idle, whose turn it is among outbound numbers), which extensions are on a
call now (``busy``) and ``now``.  Outputs are ``Stage`` values for ``Call.start`` /
``Call.ring``, or a refusal.

  * a call from an extension (``route``): the dialled number is resolved inside the
    caller's own account (``dialplan.resolve``); an extension rings its registered
    devices at once, or its designated outside numbers through the trunk (primary,
    then backup); a group rings its strategy's steps (``dialplan.groups``), then its
    overflow; an outside number goes through the account's trunk, showing one of the
    caller's outbound numbers in rotation (SPEC "Calls", "Groups", "Trunks");
  * a call from a provider (``inbound``): the hotline it was sent to, and what the
    hotline's time rules choose (``dialplan.timerules``);
  * a destination as a scenario or a menu writes it (``destination``, ``external``).

Not here: the call itself, sockets, the clock (``now`` comes in), randomness (the
shuffle for ``random`` groups is injected), DNS (trunk hosts come resolved through
``address``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

from ..dialplan.destination import parse_destination
from ..dialplan.groups import steps
from ..dialplan.plans import Allowance, Usage, allowance
from ..dialplan.resolve import CallOutside, Refuse, RingGroup, classify, for_trunk, normalise, resolve, same_number
from ..dialplan.timerules import choose
from ..registrar.core import Binding
from ..sip.transaction import Target
from .actions import Device, Stage

if TYPE_CHECKING:  # annotations only: routing reads the config's values, it imports nothing of it
    from ..config.schema import Account, Config, Extension, ExternalGroup, Group, Hotline, Trunk

Lookup = Callable[[str, str, float], Sequence[Binding]]  # account, extension, now -> its registered devices


@dataclass
class HuntMemory:
    """What routing remembers between calls; ``on_change`` hears each change (a cluster's
    nodes share them), ``learn`` takes one made elsewhere."""

    last_answered: dict[tuple[str, str], str] = field(default_factory=dict)  # (account, group) -> member
    idle_since: dict[tuple[str, str], float] = field(default_factory=dict)  # (account, extension) -> when its last call ended
    rotation: dict[tuple[str, str], int] = field(default_factory=dict)  # (account, extension) -> outbound numbers used
    on_change: Callable[[str, str, str, str], None] | None = None  # kind, account, name, value

    def answered(self, account: str, group: str, member: str) -> None:
        """``member`` took a call to ``group`` (rrmemory starts after it next time)."""
        self.last_answered[(account, group)] = member
        if self.on_change is not None:
            self.on_change("answered", account, group, member)

    def idle(self, account: str, numbers: Iterable[str], now: float) -> None:
        """These extensions' calls ended at ``now`` (leastrecent rings the longest idle first)."""
        for number in numbers:
            self.idle_since[(account, number)] = now
            if self.on_change is not None:
                self.on_change("idle", account, number, repr(now))

    def learn(self, kind: str, account: str, name: str, value: str) -> None:
        """A change another node made (``on_change``'s arguments there)."""
        if kind == "answered":
            self.last_answered[(account, name)] = value
        elif kind == "idle":
            self.idle_since[(account, name)] = max(float(value), self.idle_since.get((account, name), 0.0))
        elif kind == "rotation":
            self.rotation[(account, name)] = max(int(value), self.rotation.get((account, name), 0))

    def idle_times(self, account: str, members: Sequence[str]) -> dict[str, float]:
        return {m: self.idle_since.get((account, m), 0.0) for m in members}

    def next_outbound(self, account: Account, shown: Extension) -> str | None:
        """The caller ID of ``shown``'s outside calls: the next in rotation of its own outbound
        numbers, or of its outbound group's (one rotation for all the group's extensions), or
        of the account's."""
        group = account.outbound_groups.get(shown.outbound_group) if shown.outbound_group else None
        pool = shown.outbound_numbers or group or account.outbound_numbers
        if not pool:
            return None
        key = (account.name, f"group {shown.outbound_group}" if group and not shown.outbound_numbers else shown.number)
        turn = self.rotation.get(key, 0)
        self.rotation[key] = turn + 1
        if self.on_change is not None:
            self.on_change("rotation", *key, str(turn + 1))
        return pool[turn % len(pool)]


@dataclass(frozen=True, slots=True)
class Ring:
    """Ring these stages; the call goes ``direction``; ``step`` goes on the call's path."""

    stages: list[Stage]
    callee: str  # who is rung, for the log (an extension, a group, an outside number)
    direction: str = "internal"
    step: str | None = None
    via: str = ""  # an outside call: which trunk, showing which number, for the log
    extension: str | None = None  # a call to one extension: its number (its mailbox takes what nobody answers)


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    reason: str
    cause: str  # what the history and the log say
    warn: bool = False  # worth a warning in the log (a call above the caller's permission, no trunk)
    extension: str | None = None  # the extension that refused it (do not disturb): its mailbox may take it


Route = Union[Ring, Refusal]


@dataclass(frozen=True, slots=True)
class Inbound:
    """A provider's call to a hotline: the account, the hotline, the destination its time
    rules chose and why."""

    account: Account
    hotline: Hotline
    destination: str
    why: str


class Router:
    def __init__(self, config: Config, lookup: Lookup, memory: HuntMemory, *, busy: Callable[[str], set[str]],
                 address: Callable[[str], str], shuffle: Callable[[list[Any]], None]) -> None:
        self.config = config
        self.lookup = lookup
        self.memory = memory
        self.busy = busy  # account -> its extensions on a call now
        self.address = address  # a trunk host -> its IP address (resolved ahead, off the event loop)
        self.shuffle = shuffle
        self.usage = Usage()  # billed seconds of outside calls this month, by person and class (plans' minutes)

    # --- calls from phones ------------------------------------------------------------
    def route(self, account: Account, caller: Extension, dialled: str, now: float, *,
              addressed_to: Account | None = None) -> Route:
        """Where a call from ``caller`` to ``dialled`` goes (SPEC "Calls").  ``addressed_to``:
        the account whose domain the Request-URI names, if any: accounts never reach each other."""
        if addressed_to is not None and addressed_to.name != account.name:
            return Refusal(404, "Not Found", "number of another account")
        decision = resolve(account, caller, dialled, self.config.numbering)
        if isinstance(decision, Refuse):
            return Refusal(decision.status, decision.reason, decision.detail, warn=decision.status == 403,
                           extension=decision.busy)
        if isinstance(decision, CallOutside):
            plans = self.allowance(account, caller, now)
            refused = plans.refuses_class(decision.number_class) if plans is not None else None
            if refused is None and plans is not None and caller.person is not None:
                used = self.usage.used(caller.person, month_of(account, now), decision.number_class)
                refused = plans.refuses_minutes(decision.number_class, used)
            if refused is not None:
                return Refusal(403, f"Forbidden ({refused})", f"{caller.number}@{account.name} dialled {decision.number}: {refused}",
                               warn=True)
            trunk = self.config.trunk(account.trunk)
            if trunk is None:
                return Refusal(503, "No Trunk Configured", f"no trunk for {decision.number}", warn=True)
            device = self.trunk_device(trunk, decision.number, self.memory.next_outbound(account, caller))
            stage = Stage((device,), self.config.calls.outbound_timeout, device.uri, decision.number)
            return Ring([stage], decision.number, "outbound", via=f"trunk {trunk.name} as {device.caller_id}")
        if isinstance(decision, RingGroup):
            number = decision.group.number
            return Ring(self.group_stages(account, decision.group, now, caller.number), number, step=f"group {number}")
        number = decision.extension.number
        return Ring(self.extension_stages(account, decision.extension, now), number, extension=number)

    def allowance(self, account: Account, extension: Extension, now: float) -> Allowance | None:
        """What the calling plans of the extension's person allow on the account's date at
        ``now`` (wall clock); None: no plan limits it."""
        person = account.person(extension.person) if extension.person is not None else None
        if person is None:
            return None
        plans = [p for name in person.plans if (p := self.config.plan(name)) is not None]
        return allowance(plans, dt.datetime.fromtimestamp(now, account.zone).date())

    # --- calls from providers ---------------------------------------------------------
    def inbound(self, trunk: Trunk, candidates: Sequence[str], now: float) -> Inbound | None:
        """The hotline a provider's call is for (named in the Request-URI, or in To when the
        provider sends calls to the registered Contact), and where its scenario sends it now."""
        numbering = self.config.numbering
        for account in self.config.accounts:
            for hotline in account.hotlines:
                if hotline.trunk == trunk.name and any(same_number(hotline.number, c, numbering) for c in candidates if c):
                    rules = [(r.when, r.destination) for r in hotline.scenario]
                    rule, destination = choose(rules, hotline.destination, now, account.zone)
                    why = "default" if rule is None else hotline.scenario[rule].name or f"rule {rule + 1}"
                    return Inbound(account, hotline, destination, why)
        return None

    # --- destinations -------------------------------------------------------------------
    def destination(self, account: Account, number: str, now: float, caller: str | None = None,
                    seen: frozenset[str] = frozenset()) -> list[Stage]:
        """How a call to ``number`` (an extension or a group of the account; the config rules
        guarantee it is one) rings."""
        group = account.group(number)
        if group is not None:
            return self.group_stages(account, group, now, caller, seen)
        extension = account.extension(number)
        return self.extension_stages(account, extension, now) if extension is not None else []

    def extension_stages(self, account: Account, callee: Extension, now: float) -> list[Stage]:
        """How a call to ``callee`` rings: its registered devices at once, or its designated
        numbers through the account's trunk (primary, then backup)."""
        routing = callee.routing
        trunk = self.config.trunk(account.trunk)
        if routing.type == "designated" and trunk is not None:
            stages = []
            for number, timeout in ((routing.primary, routing.primary_timeout), (routing.backup, routing.backup_timeout)):
                if number:
                    shown = self.memory.next_outbound(account, callee)
                    device = self.trunk_device(trunk, normalise(number, self.config.numbering), shown)
                    stages.append(Stage((device,), timeout, device.uri, number))
            return stages
        devices = tuple(device_of(b) for b in self._devices(account, callee.number, now))
        timeout = callee.ring_timeout or self.config.calls.ring_timeout
        return [Stage(devices, timeout, f"sip:{callee.number}@{account.domain}", callee.number, callee.number)]

    def group_stages(self, account: Account, group: Group, now: float, caller: str | None = None,
                     seen: frozenset[str] = frozenset()) -> list[Stage]:
        """A hunt group's steps as stages (SPEC "Groups"), then its overflow's.  Members that are
        the caller, in do-not-disturb, on a call or without a registered device are not rung."""
        busy = self.busy(account.name)
        devices: dict[str, tuple[Device, ...]] = {}
        for number in group.members:
            member = account.extension(number)
            if member is None or member.dnd or number == caller or number in busy:
                continue
            found = self._devices(account, number, now)
            if found:
                devices[number] = tuple(device_of(b, member=number) for b in found)
        plan = steps(group, devices, last_answered=self.memory.last_answered.get((account.name, group.number)),
                     idle_since=self.memory.idle_times(account.name, group.members), shuffle=self.shuffle)
        uri = f"sip:{group.number}@{account.domain}"
        stages = [Stage(tuple(d for m in step.members for d in devices[m]), step.timeout, uri, group.number, group=group.number)
                  for step in plan]
        if group.overflow != "hangup" and group.overflow not in seen:
            stages += self.destination(account, group.overflow, now, caller, seen | {group.number})
        return stages

    def external(self, account: Account, group: ExternalGroup, hotline: str | None, caller: str, now: float,
                 seen: frozenset[str] = frozenset()) -> list[Stage]:
        """An external group's steps (SPEC "Groups"): its outside numbers through its trunk,
        showing the hotline the call came in on (and naming it in Diversion), then its overflow."""
        trunk = self.config.trunk(group.trunk or account.trunk)
        if trunk is None:  # the config rules make this impossible; a reload may race a call
            return []
        name = f"external:{group.name}"
        plan = steps(group, group.members, last_answered=self.memory.last_answered.get((account.name, name)),
                     idle_since=self.memory.idle_times(account.name, group.members), shuffle=self.shuffle)
        extra: dict[str, Any] = {}
        if hotline:
            extra["diversion"] = f"<{self.trunk_uri(trunk, hotline)}>;reason=unconditional;counter=1"
            if trunk.original_caller_in_pai:
                extra["asserted"] = self.trunk_uri(trunk, caller)
        prompt = group.confirm_prompt if group.confirm else None

        def device(number: str) -> Device:
            return self.trunk_device(trunk, normalise(number, self.config.numbering), hotline, member=number, **extra)

        stages = [Stage(tuple(device(m) for m in step.members), step.timeout, f"sip:{group.name}@{account.domain}",
                        f"external {group.name}", confirm=prompt, confirm_timeout=group.confirm_timeout, group=name)
                  for step in plan]
        kind, then = parse_destination(group.overflow)
        if kind == "number":
            stages += self.destination(account, then, now)
        elif kind == "external" and then not in seen and (other := account.external_group(then)) is not None:
            stages += self.external(account, other, hotline, caller, now, seen | {group.name})
        return stages

    # --- trunks ---------------------------------------------------------------------------
    def trunk_device(self, trunk: Trunk, number: str, shown: str | None, **more: Any) -> Device:
        """The provider as a device to ring ``number`` (normalised), showing the number ``shown``
        as the caller; ``more``: the rest of the ``Device``."""
        dial = for_trunk(number, trunk.number_format, self.config.numbering)
        target = Target(trunk.transport.upper(), self.address(trunk.host), trunk.port)
        caller_id = self.trunk_uri(trunk, shown) if shown else None
        return Device(f"sip:{dial}@{trunk.host}:{trunk.port}", target, f"trunk {trunk.name}", caller_id, trunk.credentials, **more)

    def trunk_uri(self, trunk: Trunk, number: str) -> str:
        """A number as a SIP URI at the provider, written as it wants numbers."""
        numbering = self.config.numbering
        return f"sip:{for_trunk(normalise(number, numbering), trunk.number_format, numbering)}@{trunk.host}"

    def _devices(self, account: Account, number: str, now: float) -> Sequence[Binding]:
        return self.lookup(account.name, number, now)[: self.config.calls.max_forks]


def device_of(binding: Binding, member: str | None = None) -> Device:
    """A registered phone as a device to ring (through the edge proxy it registered through, if any)."""
    return Device(binding.uri, binding.target, binding.user_agent or binding.uri, member=member, route=binding.path)


def month_of(account: Account, wall: float) -> str:
    """``YYYY-MM`` of the wall-clock time ``wall`` in the account's time zone (plans count
    minutes per calendar month there)."""
    return dt.datetime.fromtimestamp(wall, account.zone).strftime("%Y-%m")


def count_usage(usage: Usage, config: Config, rows: Sequence[Any]) -> None:
    """Add the billed seconds of finished outside calls (history rows, or records) to ``usage``."""
    for row in rows:
        account = config.account(row.account)
        if account is None or row.direction != "outbound" or not row.caller_person or row.billed_seconds <= 0:
            continue
        number_class = classify(normalise(row.callee, config.numbering), config.numbering)
        if number_class is not None:
            usage.add(row.caller_person, month_of(account, row.started), number_class, row.billed_seconds)


def remembered(account: Account, numbers: Iterable[str | None]) -> set[str]:
    """Of the numbers a call reached, those routing's memory keeps (leastrecent): the account's
    extensions and its external groups' outside numbers, not any number dialled out (which would
    grow the memory, and a cluster's store, without end)."""
    ringable = {m for group in account.external_groups for m in group.members}
    return {n for n in numbers if n is not None and (n in ringable or account.extension(n) is not None)}
