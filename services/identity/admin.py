"""HTTP routes of administration: staff accounts (created, given roles, disabled, given a new
password by an administrator), the kiosk's device secrets (administrator), and the audit of
sign-ins (administrator or auditor). The first administrator is made on the server's command
line (`python -m services.identity create-staff`), never over HTTP.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import SINGLE_LINE
from contracts.identity import PrincipalKind, Role
from services.identity import lifetimes, passwords, store
from services.identity.access import Access, Guards, answers, documented
from services.identity.domain import (
    DEVICE_NAME,
    USERNAME,
    StaffAccount,
    last_administrator_refusal,
    normalise_username,
)
from services.runtime.identity import Caller
from services.runtime.service import ServiceContext

DisplayName = Annotated[str, Field(min_length=1, max_length=200, pattern=SINGLE_LINE)]
DeviceName = Annotated[str, Field(min_length=1, max_length=64, pattern=DEVICE_NAME)]
Username = Annotated[str, Path(max_length=64, description="the account's username")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewStaff(Strict):
    username: str = Field(min_length=2, max_length=64, pattern=USERNAME.pattern)
    display_name: DisplayName
    roles: list[Role] = Field(min_length=1, max_length=len(Role))
    password: str = Field(min_length=1, max_length=1024)


class StaffChange(Strict):
    display_name: DisplayName | None = None
    roles: list[Role] | None = Field(default=None, max_length=len(Role))
    disabled: bool | None = None


class NewPassword(Strict):
    password: str = Field(min_length=1, max_length=1024)


class StaffView(BaseModel):
    username: str
    display_name: str
    roles: list[Role]
    disabled: bool


class NewDevice(Strict):
    name: DeviceName


class DeviceRegistered(BaseModel):
    name: str
    secret: str = Field(description="shown this once: type it into the kiosk's settings")


class DeviceView(BaseModel):
    name: str
    created_at: datetime
    revoked_at: datetime | None


class AuditEntry(BaseModel):
    id: int
    at: datetime
    outcome: str
    kind: PrincipalKind | None
    subject: str | None
    client: str


def view(account: StaffAccount) -> StaffView:
    return StaffView(username=account.username, display_name=account.display_name,
                     roles=sorted(account.roles), disabled=account.disabled)  # fmt: skip


def build_router(ctx: ServiceContext, guards: Guards) -> APIRouter:
    router = APIRouter(tags=["administration"], dependencies=[Depends(guards.same_origin())])
    administrator = Depends(guards.caller(Access.ADMINISTRATOR))
    auditor = Depends(guards.caller(Access.AUDITOR))
    pool = ctx.pool

    def hashed(password: str, username: str) -> str:
        if problem := passwords.password_problem(password, username):
            raise HTTPException(400, f"field 'password': {problem}")
        return passwords.hash_password(password)

    @router.get("/staff", responses=answers(401, 403), **documented(Access.ADMINISTRATOR))
    async def list_staff(_: Caller = administrator) -> list[StaffView]:
        """Every staff account, disabled ones too."""
        return [view(a) for a in await store.list_accounts(pool)]

    @router.post("/staff", status_code=201, responses=answers(401, 403, 409),
                 **documented(Access.ADMINISTRATOR))  # fmt: skip
    async def create_staff(body: NewStaff, _: Caller = administrator) -> StaffView:
        """A new staff account with its roles and a first password (at least 12 characters)."""
        username = normalise_username(body.username)
        if username is None:
            raise HTTPException(400, "field 'username': 2 to 64 of a-z 0-9 . _ -")
        password_hash = await asyncio.to_thread(hashed, body.password, username)
        account = StaffAccount(username, body.display_name, frozenset(body.roles))
        if not await store.insert_account(pool, account, password_hash, ctx.clock.now()):
            raise HTTPException(409, f"the username {username} is taken")
        return view(account)

    @router.patch("/staff/{username}", responses=answers(401, 403, 409),
                  **documented(Access.ADMINISTRATOR))  # fmt: skip
    async def change_staff(
        username: Username, body: StaffChange, _: Caller = administrator
    ) -> StaffView:
        """Change an account's display name, roles, or disable (enable) it. A disabled account
        loses its sessions at once; the last active administrator cannot be removed."""
        name = normalise_username(username) or ""
        async with pool.acquire() as conn, conn.transaction():
            await store.lock_accounts(conn)
            found = await store.load_account(conn, name)
            if found is None:
                raise HTTPException(404, f"no staff account {name or '(invalid)'}")
            old = found.account
            new = StaffAccount(
                old.username,
                body.display_name or old.display_name,
                old.roles if body.roles is None else frozenset(body.roles),
                old.disabled if body.disabled is None else body.disabled,
            )
            accounts = await store.list_accounts(conn)
            if why := last_administrator_refusal(accounts, new.username, new.roles,
                                                 new.disabled):  # fmt: skip
                raise HTTPException(409, why)
            await store.update_account(conn, new, ctx.clock.now())
            if new.disabled:
                await store.delete_sessions_of(conn, PrincipalKind.STAFF, new.username)
        return view(new)

    @router.post("/staff/{username}/password", status_code=204, response_class=Response,
                 responses=answers(401, 403), **documented(Access.ADMINISTRATOR))  # fmt: skip
    async def reset_password(
        username: Username, body: NewPassword, _: Caller = administrator
    ) -> Response:
        """Give an account a new password (the person forgot theirs); its sessions end."""
        name = normalise_username(username) or ""
        found = await store.load_account(pool, name)
        if found is None:
            raise HTTPException(404, f"no staff account {name or '(invalid)'}")
        password_hash = await asyncio.to_thread(hashed, body.password, name)
        async with pool.acquire() as conn, conn.transaction():
            await store.set_password_hash(conn, name, password_hash, ctx.clock.now())
            await store.delete_sessions_of(conn, PrincipalKind.STAFF, name)
        return Response(status_code=204)

    @router.get("/devices", responses=answers(401, 403), **documented(Access.ADMINISTRATOR))
    async def list_devices(_: Caller = administrator) -> list[DeviceView]:
        return [DeviceView(**dict(r)) for r in await store.list_devices(pool)]

    @router.post("/devices", status_code=201, responses=answers(401, 403, 409),
                 **documented(Access.ADMINISTRATOR))  # fmt: skip
    async def register_device(body: NewDevice, _: Caller = administrator) -> DeviceRegistered:
        """Register a kiosk; its secret is in this answer only (it is stored as a digest).
        A revoked device's name can be registered again, with a new secret."""
        secret = lifetimes.new_secret()
        if not await store.insert_device(pool, body.name, lifetimes.digest(secret),
                                         ctx.clock.now()):  # fmt: skip
            raise HTTPException(409, f"a device {body.name} is registered; revoke it first")
        return DeviceRegistered(name=body.name, secret=secret)

    @router.delete("/devices/{name}", status_code=204, response_class=Response,
                   responses=answers(401, 403), **documented(Access.ADMINISTRATOR))  # fmt: skip
    async def revoke_device(
        name: Annotated[str, Path(max_length=64, pattern=DEVICE_NAME)],
        _: Caller = administrator,
    ) -> Response:
        """Revoke a device: its secret gets no more tokens (those issued live their 5 min)."""
        if not await store.revoke_device(pool, name, ctx.clock.now()):
            raise HTTPException(404, "no such registered device")
        return Response(status_code=204)

    @router.get("/audit/sign-ins", responses=answers(401, 403), **documented(Access.AUDITOR))
    async def audit(
        _: Caller = auditor,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    ) -> list[AuditEntry]:
        """Sign-ins, newest first (success, failure, throttled, sign-out, links, devices): who,
        when, from which address; never a password. Page back with `before_id`."""
        rows = await store.audit_entries(pool, before_id, limit)
        return [AuditEntry(**dict(r)) for r in rows]

    return router
