"""The HTTP admin API (FastAPI): the command line's resources for scripts and web pages.

Every change goes through ``ops.service.Operations`` (the same rules as the command line),
made as the token's name.  Reads of the config answer with its version as ``ETag``; a change
may name the version it was decided on in ``If-Match`` and is refused with ``409`` if the file
changed since.  Errors are JSON: ``{"error": message}``, with ``problems`` (``file:line: path:
message``) for a change that would make the config invalid and ``errors`` (``row N, column C``)
for a CSV.  The OpenAPI document is at ``/api/openapi.json``.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations,
# and the dependencies (``Who``, ``IfMatch``) are names local to ``build``.
import base64
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from .. import __version__
from ..config import Account, Config, ConfigError, Extension
from ..ops import document
from ..ops import plans as plan_ops
from ..ops.document import StaleEdit
from ..ops.extensions import Change
from ..ops.login import login_info
from ..ops.service import Operations, Outcome
from ..ops.tree import NotFound
from ..ops.web_link import link_secret
from ..park.lot import code
from ..store import Store
from ..store.calls_csv import calls_csv, when
from ..web import console, pages
from .auth import Caller, authenticate
from .metrics import Snapshot
from .metrics import registry as metrics_registry


class Gone(Exception):
    """What was asked for existed and was deleted on purpose (a recording past its retention): 410."""

@dataclass
class ApiContext:
    config_path: Path
    config: Callable[[], Config]  # the config the switch runs now
    store: Store
    apply: Callable[[Change], Awaitable[str]]  # apply the file to the running switch
    live_calls: Callable[[], list[dict[str, Any]]]
    metrics: Callable[[], Snapshot] | None = None  # the switch's counters, for /metrics
    trunks: Callable[[], list[dict[str, Any]]] = list  # each trunk's registration state
    bans: Callable[[], list[dict[str, Any]]] = list  # the sources the switch ignores now
    lift: Callable[[str, str], dict[str, Any]] | None = None  # end a source's ban (address, by whom)
    phones_asked: Callable[[], list[dict[str, Any]]] = list  # phones that asked for files no account has for them


class PersonIn(BaseModel):
    id: str = Field(description="a stable id (an employee number)")
    name: str
    email: str | None = None
    department: str | None = None
    site: str | None = None


class PersonPatch(BaseModel):
    name: str | None = None
    email: str | None = None
    department: str | None = None
    site: str | None = None


class Settings(BaseModel):
    alias: str | None = None
    display_name: str | None = None
    call_permission: str | None = None
    department: str | None = None
    site: str | None = None
    description: str | None = None
    outbound_group: str | None = None
    supervisors: list[str] | None = Field(None, description="extension or group numbers; [] clears them")


class Grant(Settings):
    number: str
    person: str
    password: str | None = Field(None, description="default: a strong generated one, returned once")


class NewNumber(BaseModel):
    number: str


class NewPassword(BaseModel):
    password: str | None = Field(None, description="default: a strong generated one, returned once")


class DeviceIn(BaseModel):
    mac: str = Field(description="the phone's MAC address")
    model: str = Field(description="yealink, grandstream, grandstream-gxp or fanvil")
    lines: list[str] = Field(description="extensions on its lines, first line first")
    password: str | None = Field(None, description="its provisioning password (default: a strong generated one, "
                                 "returned once)")
    blf: list[str] = Field(default_factory=list, description="colleagues watched on BLF keys")
    park_keys: int | None = Field(None, description="BLF keys on the first park slots (default 3)")
    label: str | None = None


class PeopleList(BaseModel):
    people: list[str] = Field(min_length=1)


class Replace(BaseModel):
    old: str
    new: str
    account: str | None = None
    people: list[str] | None = None


def _expected(if_match: str | None) -> str | None:
    if if_match is None or if_match.strip() == "*":
        return None
    return if_match.strip().removeprefix("W/").strip('"')


def _outcome(outcome: Outcome, status: int = 200) -> JSONResponse:
    body = {
        "changes": [{"action": c.action, "account": c.account, "subject": c.subject, "person": c.person,
                     "before": c.before, "after": c.after, "notes": list(c.notes)} for c in outcome.changes],
        "version": outcome.version, "applied": outcome.applied, "notified": outcome.notified,
    }
    secret = next((c.secret for c in outcome.changes if c.secret), None)
    if secret is not None:
        body["password"] = secret
    return JSONResponse(body, status_code=status, headers={"ETag": f'"{outcome.version}"'})


def build(ctx: ApiContext) -> FastAPI:
    api = FastAPI(title="softswitch admin API", version=__version__, openapi_url="/api/openapi.json",
                  docs_url="/api/docs", redoc_url=None)
    pages.mount(api, ctx.config, link_secret(ctx.config_path))  # /phone and /static: no token (a phone signs in with its SIP credentials)

    def by_token(header: str | None) -> Caller | None:
        api_config = ctx.config().api
        return authenticate(header, list(api_config.tokens) if api_config is not None else [])

    console.mount(api, ctx, by_token)  # /console: the operator's pages, signed in with an API token

    def caller(request: Request) -> Caller:
        api_config = ctx.config().api
        who = authenticate(request.headers.get("authorization"), list(api_config.tokens) if api_config is not None else [])
        if who is None:
            raise HTTPException(401, "a valid bearer token is needed", headers={"WWW-Authenticate": "Bearer"})
        return who

    Who = Annotated[Caller, Depends(caller)]
    IfMatch = Annotated[str | None, Header(description="the config version the change was decided on")]

    def visible(who: Caller, account: str) -> None:
        if not who.may_see(account) or ctx.config().account(account) is None:
            raise NotFound(f"no account named {account!r}")

    def operator(who: Caller) -> None:
        if who.account is not None:
            raise HTTPException(403, "an operator token is needed")

    def make_ops(who: Who, notify: Annotated[list[str] | None, Query(
            description="also e-mail these addresses or people (their ids) about the change")] = None) -> Operations:
        return Operations(ctx.config_path, ctx.store, ctx.apply, who.actor, notify=notify or [])

    Ops = Annotated[Operations, Depends(make_ops)]

    def version() -> str:
        return document.version_of(ctx.config_path.read_bytes())

    def listing(body: Any) -> JSONResponse:
        return JSONResponse(body, headers={"ETag": f'"{version()}"'})

    @api.exception_handler(NotFound)
    async def _not_found(_r: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=404)

    @api.exception_handler(Gone)
    async def _gone(_r: Request, exc: Gone) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=410)

    @api.exception_handler(StaleEdit)
    async def _stale(_r: Request, exc: StaleEdit) -> JSONResponse:
        return JSONResponse({"error": str(exc), "version": exc.current}, status_code=409)

    @api.exception_handler(ConfigError)
    async def _invalid(_r: Request, exc: ConfigError) -> JSONResponse:
        return JSONResponse({"error": "the change would make the config invalid; nothing was written",
                             "problems": [str(p) for p in exc.problems]}, status_code=422)

    @api.exception_handler(plan_ops.CsvErrors)
    async def _csv(_r: Request, exc: plan_ops.CsvErrors) -> JSONResponse:
        return JSONResponse({"error": f"{len(exc.errors)} problems in the file; nothing was changed",
                             "errors": exc.errors}, status_code=422)

    @api.exception_handler(ValueError)
    async def _refused(_r: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=409)

    # --- people ---------------------------------------------------------------
    @api.get("/api/accounts/{account}/people", tags=["people"])
    def list_people(account: str, who: Who) -> JSONResponse:
        visible(who, account)
        acc = ctx.config().account(account)
        assert acc is not None
        return listing([{**p.model_dump(mode="json"), "extensions": [e.number for e in acc.extensions if e.person == p.id]}
                        for p in acc.people])

    @api.post("/api/accounts/{account}/people", tags=["people"], status_code=201)
    async def add_person(account: str, body: PersonIn, who: Who, o: Ops, if_match: IfMatch = None) -> JSONResponse:
        visible(who, account)
        values = body.model_dump(exclude={"id"}, exclude_none=True)
        return _outcome(await o.add_person(account, body.id, values, _expected(if_match)), 201)

    @api.patch("/api/accounts/{account}/people/{ident}", tags=["people"])
    async def update_person(account: str, ident: str, body: PersonPatch, who: Who, o: Ops, if_match: IfMatch = None) -> JSONResponse:
        visible(who, account)
        return _outcome(await o.update_person(account, ident, body.model_dump(exclude_none=True), _expected(if_match)))

    # --- extensions --------------------------------------------------------------
    def found(account: str, number: str) -> tuple[Config, Account, Extension]:
        config = ctx.config()
        acc = config.account(account)
        ext = acc.extension(number) if acc is not None else None
        if acc is None or ext is None:
            raise NotFound(f"no extension {number!r} in account {account!r}")
        return config, acc, ext

    def extension_json(ext: Extension) -> dict[str, Any]:
        data = ext.model_dump(mode="json", exclude_none=True)
        data["password"] = "(set)"
        return data

    @api.get("/api/accounts/{account}/devices", tags=["phones"])
    def list_devices(account: str, who: Who) -> list[dict[str, Any]]:
        """The desk phones the switch provisions for the account (their passwords not shown)."""
        visible(who, account)
        acc = ctx.config().account(account)
        assert acc is not None
        return [d.model_dump(mode="json", exclude={"password"}) for d in acc.devices]

    @api.post("/api/accounts/{account}/devices", tags=["phones"], status_code=201)
    async def add_device(account: str, body: DeviceIn, who: Who, o: Ops, if_match: IfMatch = None) -> JSONResponse:
        visible(who, account)
        return _outcome(await o.add_device(account, body.mac, body.model, body.lines, body.password, body.blf,
                                           body.park_keys, body.label, _expected(if_match)), 201)

    @api.delete("/api/accounts/{account}/devices/{mac}", tags=["phones"])
    async def remove_device(account: str, mac: str, who: Who, o: Ops, if_match: IfMatch = None) -> JSONResponse:
        visible(who, account)
        return _outcome(await o.remove_device(account, mac, _expected(if_match)))

    @api.get("/api/accounts/{account}/extensions", tags=["extensions"])
    async def list_extensions(account: str, who: Who) -> JSONResponse:
        visible(who, account)
        acc = ctx.config().account(account)
        assert acc is not None
        bindings = await ctx.store.list_bindings(time.time(), account)
        devices: dict[str, int] = {}
        for b in bindings:
            devices[b.extension] = devices.get(b.extension, 0) + 1
        return listing([{**extension_json(e), "devices": devices.get(e.number, 0)} for e in acc.extensions])

    @api.get("/api/accounts/{account}/extensions/{number}", tags=["extensions"])
    def show_extension(account: str, number: str, who: Who) -> JSONResponse:
        visible(who, account)
        return listing(extension_json(found(account, number)[2]))

    @api.get("/api/accounts/{account}/extensions/{number}/login-info", tags=["extensions"])
    def extension_login_info(account: str, number: str, who: Who) -> JSONResponse:
        visible(who, account)
        config, acc, ext = found(account, number)
        return listing(dict(login_info(config, acc, ext, password=ext.password)))

    @api.post("/api/accounts/{account}/extensions", tags=["extensions"], status_code=201)
    async def grant(account: str, body: Grant, who: Who, o: Ops, if_match: IfMatch = None) -> JSONResponse:
        visible(who, account)
        settings = body.model_dump(exclude={"number", "person", "password"}, exclude_none=True)
        return _outcome(await o.grant(account, body.number, body.person, settings, body.password, _expected(if_match)), 201)

    @api.patch("/api/accounts/{account}/extensions/{number}", tags=["extensions"])
    async def update_extension(account: str, number: str, body: Settings, who: Who, o: Ops, if_match: IfMatch = None) -> JSONResponse:
        visible(who, account)
        return _outcome(await o.update(account, number, body.model_dump(exclude_none=True), _expected(if_match)))

    @api.post("/api/accounts/{account}/extensions/{number}/password", tags=["extensions"])
    async def password(account: str, number: str, body: NewPassword, who: Who, o: Ops, if_match: IfMatch = None) -> JSONResponse:
        visible(who, account)
        return _outcome(await o.set_password(account, number, body.password, _expected(if_match)))

    @api.post("/api/accounts/{account}/extensions/{number}/stop", tags=["extensions"])
    async def stop(account: str, number: str, who: Who, o: Ops, if_match: IfMatch = None) -> JSONResponse:
        visible(who, account)
        return _outcome(await o.stop(account, number, _expected(if_match)))

    @api.post("/api/accounts/{account}/extensions/{number}/change", tags=["extensions"])
    async def change(account: str, number: str, body: NewNumber, who: Who, o: Ops, if_match: IfMatch = None) -> JSONResponse:
        visible(who, account)
        return _outcome(await o.change_number(account, number, body.number, _expected(if_match)))

    # --- plans ------------------------------------------------------------------
    @api.get("/api/plans", tags=["plans"])
    def list_plans(who: Who) -> JSONResponse:
        config = ctx.config()
        return listing([{**p.model_dump(mode="json"), "people": sum(
            1 for a in config.accounts if who.may_see(a.name) for person in a.people if p.name in person.plans)}
            for p in config.plans])

    @api.post("/api/accounts/{account}/plans/{plan}/assign", tags=["plans"])
    async def assign(account: str, plan: str, body: PeopleList, who: Who, o: Ops, if_match: IfMatch = None) -> JSONResponse:
        visible(who, account)
        return _outcome(await o.assign_plan(account, plan, body.people, _expected(if_match)))

    @api.post("/api/accounts/{account}/plans/{plan}/remove", tags=["plans"])
    async def remove(account: str, plan: str, body: PeopleList, who: Who, o: Ops, if_match: IfMatch = None) -> JSONResponse:
        visible(who, account)
        return _outcome(await o.remove_plan(account, plan, body.people, _expected(if_match)))

    @api.post("/api/plans/replace", tags=["plans"])
    async def replace(body: Replace, who: Who, o: Ops, if_match: IfMatch = None) -> JSONResponse:
        if body.account is None:
            operator(who)
        else:
            visible(who, body.account)
        return _outcome(await o.replace_plan(body.old, body.new, body.account, body.people, _expected(if_match)))

    @api.post("/api/accounts/{account}/plans/import", tags=["plans"],
              openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}})
    async def import_csv(account: str, request: Request, who: Who, o: Ops, dry_run: bool = False,
                         if_match: IfMatch = None) -> JSONResponse:
        visible(who, account)
        data = (await request.body()).decode("utf-8-sig", "replace")
        return _outcome(await o.import_plans(account, data, dry_run, _expected(if_match)))

    @api.get("/api/accounts/{account}/plans/export", tags=["plans"], response_class=PlainTextResponse)
    def export_csv(account: str, who: Who) -> Response:
        visible(who, account)
        snapshot = document.read(ctx.config_path)
        return Response(plan_ops.export_csv(snapshot.tree, account), media_type="text/csv",
                        headers={"ETag": f'"{snapshot.version}"'})

    @api.get("/api/plans/inactive", tags=["plans"])
    def inactive(who: Who) -> JSONResponse:
        rows = plan_ops.inactive(document.read(ctx.config_path).tree)
        return listing([{"account": a, "person": i, "name": n, "plans": list(p)} for a, i, n, p in rows if who.may_see(a)])

    # --- metrics ------------------------------------------------------------------
    if ctx.metrics is not None:
        scraped = metrics_registry(ctx.metrics)

        @api.get("/metrics", tags=["state"], response_class=PlainTextResponse)
        def metrics(who: Who) -> Response:
            """Prometheus text format (an operator token: scrape with ``authorization: {credentials: …}``)."""
            operator(who)
            return Response(generate_latest(scraped), media_type=CONTENT_TYPE_LATEST)

    # --- live state and history --------------------------------------------------
    @api.get("/api/accounts/{account}/registrations", tags=["state"])
    async def registrations(account: str, who: Who) -> list[dict[str, Any]]:
        visible(who, account)
        rows = await ctx.store.list_bindings(time.time(), account)
        return [{"extension": b.extension, "contact": b.uri, "transport": b.source.transport, "source": f"{b.source.host}:{b.source.port}",
                 "expires_at": b.expires_at, "nat": b.nat, "user_agent": b.user_agent} for b in rows]

    @api.get("/api/accounts/{account}/calls/active", tags=["state"])
    def active_calls(account: str, who: Who) -> list[dict[str, Any]]:
        visible(who, account)
        return [c for c in ctx.live_calls() if c.get("account") == account]

    @api.get("/api/accounts/{account}/parked", tags=["state"])
    async def parked(account: str, who: Who) -> list[dict[str, Any]]:
        """Occupied park slots, as every switch process sharing the store recorded them."""
        visible(who, account)
        return [{**dataclasses.asdict(row), "code": code(row.slot), "node": node}
                for row, node in await ctx.store.list_parked(account)]

    @api.get("/api/trunks", tags=["state"])
    def trunks(who: Who) -> list[dict[str, Any]]:
        operator(who)
        return ctx.trunks()

    @api.get("/api/bans", tags=["state"])
    def bans(who: Who) -> list[dict[str, Any]]:
        operator(who)
        return ctx.bans()

    @api.delete("/api/bans/{address}", tags=["state"])
    def lift_ban(address: str, who: Who) -> dict[str, Any]:
        """End a source's ban now (its messages are answered again)."""
        operator(who)
        if ctx.lift is None:
            raise NotFound("this switch keeps no bans")
        try:
            lifted = ctx.lift(address, who.actor)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        if lifted["lifted"] is None:
            raise NotFound(f"{address} is not banned")
        return lifted

    Since = Annotated[float | None, Query(description="Unix time: calls started at or after it")]
    Until = Annotated[float | None, Query(description="Unix time: calls started before it")]
    Limit = Annotated[int | None, Query(ge=1, le=100_000)]

    @api.get("/api/accounts/{account}/calls", tags=["history"])
    async def call_history(account: str, who: Who, since: Since = None, until: Until = None, person: str | None = None,
                           limit: Limit = 1000) -> list[dict[str, Any]]:
        visible(who, account)
        rows = await ctx.store.list_calls(account, since, until, limit, person)
        return [r.as_row() for r in rows]

    @api.get("/api/accounts/{account}/calls/export", tags=["history"], response_class=PlainTextResponse)
    async def call_history_csv(account: str, who: Who, since: Since = None, until: Until = None, person: str | None = None,
                               limit: Limit = 100_000) -> PlainTextResponse:
        """The history as ``softswitch calls --csv`` writes it."""
        visible(who, account)
        rows = await ctx.store.list_calls(account, since, until, limit, person)
        return PlainTextResponse(calls_csv(rows), media_type="text/csv; charset=utf-8")

    @api.get("/api/accounts/{account}/recordings", tags=["history"])
    async def recordings(account: str, who: Who, since: Since = None, until: Until = None,
                         limit: Limit = 1000) -> list[dict[str, Any]]:
        """Recorded calls, oldest first: the call's id (the recording's), parties, and its file."""
        visible(who, account)
        rows = await ctx.store.list_calls(account, since, until, limit, recorded=True)
        return [{"id": r.id, "started": r.started, "caller": r.caller, "callee": r.callee, "answered_by": r.answered_by,
                 "billed_seconds": r.billed_seconds, **dataclasses.asdict(r.recording)} for r in rows if r.recording]

    @api.get("/api/accounts/{account}/recordings/{call_id}", tags=["history"], response_class=FileResponse,
             responses={200: {"content": {"audio/wav": {}}}, 206: {"description": "the byte range asked for"}})
    async def recording_file(account: str, call_id: str, who: Who) -> FileResponse:
        """A call's recording, a WAV file; ``Range`` requests are answered with ``206`` (RFC 9110 §14),
        so a player can seek in a long call."""
        visible(who, account)
        row = await ctx.store.get_call(call_id)
        if row is None or row.account != account or row.recording is None:
            raise NotFound(f"no recorded call {call_id!r} in account {account!r}")
        if row.recording.deleted is not None:
            raise Gone(f"the recording of call {call_id!r} was deleted (retention) at {when(row.recording.deleted)}")
        path = Path(row.recording.path)
        if not path.is_file():
            raise NotFound(f"the recording of call {call_id!r} is gone from {path}")
        digest = base64.b64encode(bytes.fromhex(row.recording.sha256)).decode()
        return FileResponse(path, media_type="audio/wav", filename=f"{call_id}.wav",
                            headers={"Repr-Digest": f"sha-256=:{digest}:"})  # RFC 9530: the whole file's

    @api.get("/api/audit", tags=["history"])
    async def audit(who: Who, account: str | None = None, since: float | None = None,
                    limit: Annotated[int | None, Query(ge=1, le=100_000)] = 1000) -> list[dict[str, Any]]:
        if account is not None:
            visible(who, account)
        elif who.account is not None:
            account = who.account
        return [r.as_dict() for r in await ctx.store.list_audit(account, since, limit)]

    return api
