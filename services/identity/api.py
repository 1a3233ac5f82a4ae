"""HTTP routes of signing in: staff passwords, sign-in links for organisations and citizens,
the kiosk's device secret, sessions and the short-lived tokens exchanged for them.

Every answer that could tell whether an account or address exists is the same either way: a
wrong username and a wrong password are one 401 after the same argon2 work, and a sign-in link
request is answered 202 with a mail to the address whatever it is (mail.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, Security
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from contracts.identity import PrincipalKind, Role
from services.identity import addresses, lifetimes, mail, passwords, sessions, store, throttle
from services.identity.access import COOKIE, Access, Guards, answers, documented
from services.identity.audit import Audit
from services.identity.domain import (
    DEVICE_NAME,
    Outcome,
    Standing,
    normalise_username,
    standing,
)
from services.identity.pages import page
from services.identity.settings import IdentitySettings
from services.runtime.http import RateLimit, client_of, counted_as, limited
from services.runtime.http_auth import PUBLIC
from services.runtime.identity import Caller, Signer
from services.runtime.service import ServiceContext

TOKEN_LIFETIME_S = 5 * 60
MAX_ORGANISATIONS_PER_MAIL = 10  # one contact may act for several organisations
HASHING_AT_ONCE = 2  # argon2id takes 64 MiB and a core a while: a flood waits, never piles up

PW_ACCOUNT, PW_CLIENT = "password:account", "password:client"
LINK_ADDRESS, LINK_CLIENT = "link:address", "link:client"

HTML = {"text/html": {"schema": {"type": "string"}}}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignIn(Strict):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


class PasswordChange(Strict):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class LinkKind(StrEnum):
    ORGANISATION = "organisation"
    CITIZEN = "citizen"


class LinkRequest(Strict):
    email: str = Field(min_length=3, max_length=320)
    kind: LinkKind = Field(
        default=LinkKind.ORGANISATION,
        description="sign in as an organisation's contact, or as a citizen",
    )


class DeviceSecret(Strict):
    device: str = Field(min_length=1, max_length=64, pattern=DEVICE_NAME)
    secret: str = Field(min_length=1, max_length=lifetimes.MAX_SECRET_CHARS)


class Who(BaseModel):
    kind: PrincipalKind
    subject: str
    name: str | None
    roles: list[Role]


class Issued(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="seconds")
    who: Who


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    message: str


def who(caller: Caller) -> Who:
    assert caller.kind is not None
    return Who(kind=caller.kind, subject=caller.subject, name=caller.name,
               roles=sorted(caller.roles))  # fmt: skip


def keyed(text: str) -> str:
    """What a throttle counts an account or address under: a digest, so the attempts table never
    holds what was typed (a password typed into the username field, a stranger's address)."""
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def too_many(until: datetime, now: datetime) -> HTTPException:
    seconds = throttle.retry_after_s(until, now)
    return HTTPException(429, f"too many attempts; try again in {seconds} s",
                         headers={"Retry-After": str(seconds)})  # fmt: skip


def set_session_cookie(response: Response, opened: sessions.Opened, settings: IdentitySettings,
                       now: datetime) -> None:  # fmt: skip
    response.set_cookie(
        sessions.COOKIE, opened.secret,
        max_age=int((opened.cookie_until - now).total_seconds()), path="/",
        secure=True, httponly=True, samesite="strict",
    )  # fmt: skip


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(sessions.COOKIE, path="/", secure=True, httponly=True,
                           samesite="strict")  # fmt: skip


class SignInRoutes:
    def __init__(self, ctx: ServiceContext, settings: IdentitySettings, signer: Signer,
                 mailer: mail.Mailer) -> None:  # fmt: skip
        self.ctx = ctx
        self.settings = settings
        self.signer = signer
        self.mailer = mailer
        self.guards = Guards(ctx, settings)
        self.decoy = passwords.decoy_hash()
        self.hashing = asyncio.Semaphore(HASHING_AT_ONCE)
        self.audit = Audit(ctx.metrics)

    async def throttled_until(
        self, conn: store.Conn, now: datetime, checks: Sequence[tuple[str, str, throttle.Rule]]
    ) -> datetime | None:
        """When the latest limit in force over any of the checks lets an attempt in, or None."""
        ends = []
        for purpose, key, rule in checks:
            times = await store.attempts(conn, purpose, key, now - rule.remembered)
            if until := rule.until(times, now):
                ends.append(until)
        return max(ends, default=None)

    # --- staff ------------------------------------------------------------------------------

    async def sign_in(self, body: SignIn, request: Request, response: Response) -> Who:
        """Judged under a database lock on the account's and the client's counts (an advisory
        lock, so every instance takes turns): guesses sent all at once are checked one after
        the other, and the sixth finds the account locked, instead of all being checked against
        the count as it was before any of them failed. A lock already in force is answered at
        once, without waiting for a turn."""
        now, client, pool = self.ctx.clock.now(), client_of(request), self.ctx.pool
        username = normalise_username(body.username)
        account_key = keyed(username or body.username.strip().lower())
        checks = [(PW_ACCOUNT, account_key, self.settings.account_lockout),
                  (PW_CLIENT, counted_as(client), self.settings.client_lockout)]  # fmt: skip
        found = await store.load_account(pool, username) if username else None
        known = found.account.username if found else None
        until = await self.throttled_until(pool, now, checks)
        opened: sessions.Opened | None = None
        if until is None:
            async with self.hashing, pool.acquire() as conn, conn.transaction():
                await store.lock_keys(conn, [f"{purpose}:{key}" for purpose, key, _ in checks])
                now = self.ctx.clock.now()  # after the wait: what others recorded meanwhile counts
                until = await self.throttled_until(conn, now, checks)
                if until is None:
                    opened = await self.judge(conn, found, body.password, checks, client, now)
        if until is not None:
            await self.audit.record(
                pool, Outcome.THROTTLED, PrincipalKind.STAFF, known, client, now
            )
            raise too_many(until, now)
        if opened is None or found is None:
            raise HTTPException(401, "wrong username or password")
        set_session_cookie(response, opened, self.settings, now)
        account = found.account
        return who(Caller(PrincipalKind.STAFF, account.username, account.roles,
                          account.display_name))  # fmt: skip

    async def judge(
        self, conn: asyncpg.Connection, found: store.StoredAccount | None, password: str,
        checks: Sequence[tuple[str, str, throttle.Lockout]], client: str, now: datetime,
    ) -> sessions.Opened | None:  # fmt: skip
        """Check the password (against the decoy for an unknown name: the same work), then
        count a failure or open a session; the session, or None for a failure."""
        stored = found.password_hash if found else self.decoy
        verdict = await asyncio.to_thread(passwords.verify, stored, password)
        if found is None or found.account.disabled or not verdict.ok:
            await store.add_attempts(conn, [(purpose, key) for purpose, key, _ in checks], now)
            await self.audit.record(
                conn,
                Outcome.FAILURE,
                PrincipalKind.STAFF,
                found.account.username if found else None,
                client,
                now,
            )
            return None
        account = found.account
        await store.clear_attempts(conn, PW_ACCOUNT, checks[0][1])
        if verdict.rehash:
            await store.set_password_hash(conn, account.username, verdict.rehash, now)
        await self.audit.record(
            conn, Outcome.SUCCESS, PrincipalKind.STAFF, account.username, client, now
        )
        return await sessions.open_session(conn, PrincipalKind.STAFF, account.username,
                                           account.display_name, now, client,
                                           self.settings.session)  # fmt: skip

    async def change_password(
        self, body: PasswordChange, caller: Caller, request: Request
    ) -> Response:
        """A staff member's own new password. The current one is checked under the account's
        lockout (a session left open is no way around it); the account's other sessions end,
        since whoever else knew the old password may hold one."""
        if caller.kind is not PrincipalKind.STAFF:
            raise HTTPException(403, "only staff have passwords")
        if problem := passwords.password_problem(body.new_password, caller.subject):
            raise HTTPException(400, f"field 'new_password': {problem}")
        pool, client = self.ctx.pool, client_of(request)
        checks = [(PW_ACCOUNT, keyed(caller.subject), self.settings.account_lockout)]
        async with self.hashing, pool.acquire() as conn, conn.transaction():
            await store.lock_keys(conn, [f"{PW_ACCOUNT}:{checks[0][1]}"])
            now = self.ctx.clock.now()
            found = await store.load_account(conn, caller.subject)
            until = await self.throttled_until(conn, now, checks)
            verdict = passwords.Verdict(ok=False)
            if found is not None and until is None:
                verdict = await asyncio.to_thread(
                    passwords.verify, found.password_hash, body.current_password
                )
            if found is not None and until is None and not verdict.ok:
                await store.add_attempts(conn, [(PW_ACCOUNT, checks[0][1])], now)
                await self.audit.record(
                    conn, Outcome.FAILURE, PrincipalKind.STAFF, caller.subject, client, now
                )
            if found is not None and verdict.ok:
                new_hash = await asyncio.to_thread(passwords.hash_password, body.new_password)
                await store.set_password_hash(conn, caller.subject, new_hash, now)
                secret = request.cookies.get(sessions.COOKIE) or ""
                keep = lifetimes.digest(secret) if lifetimes.plausible(secret) else None
                await store.delete_sessions_of(conn, PrincipalKind.STAFF, caller.subject, keep)
        if until is not None:
            raise too_many(until, now)
        if not verdict.ok:
            raise HTTPException(401, "the current password is wrong")
        return Response(status_code=204)

    # --- sessions and tokens ----------------------------------------------------------------

    async def token(self, caller: Caller) -> Issued:
        """A token for the caller the session cookie proved (`Guards.session`)."""
        assert caller.kind is not None
        # in real time, never the shiftable clock: every service judges tokens in real time
        token = self.signer.issue(caller.kind, caller.subject, roles=caller.roles,
                                  name=caller.name, lifetime_s=TOKEN_LIFETIME_S)  # fmt: skip
        return Issued(access_token=token, expires_in=TOKEN_LIFETIME_S, who=who(caller))

    async def sign_out(self, request: Request) -> Response:
        secret = request.cookies.get(sessions.COOKIE)
        response = Response(status_code=204)
        clear_session_cookie(response)
        if not secret:
            return response
        await self.guards.session_caller(request)  # the CSRF check; the session may be over
        now = self.ctx.clock.now()
        ended = None
        if lifetimes.plausible(secret):
            ended = await store.delete_session(self.ctx.pool, lifetimes.digest(secret))
        if ended is not None:
            await self.audit.record(
                self.ctx.pool, Outcome.SIGN_OUT, ended.kind, ended.subject, client_of(request), now
            )
        return response

    # --- sign-in links ----------------------------------------------------------------------

    async def ask_for_link(self, body: LinkRequest, request: Request) -> Accepted:
        now, client, pool = self.ctx.clock.now(), client_of(request), self.ctx.pool
        try:
            address = addresses.normalise(body.email)
        except addresses.AddressRefused as refused:
            raise HTTPException(400, f"field 'email': {refused}") from None
        checks = [(LINK_ADDRESS, keyed(address), self.settings.links_per_address),
                  (LINK_CLIENT, counted_as(client), self.settings.links_per_client)]  # fmt: skip
        async with pool.acquire() as conn, conn.transaction():  # one request at a time counts
            await store.lock_keys(conn, [f"{purpose}:{key}" for purpose, key, _ in checks])
            now = self.ctx.clock.now()  # after the wait: what others recorded meanwhile counts
            if (until := await self.throttled_until(conn, now, checks)) is None:
                await store.add_attempts(conn, [(purpose, key) for purpose, key, _ in checks], now)
        if until is not None:
            raise too_many(until, now)
        expires_at = now + self.settings.link_lifetime
        links: list[mail.LinkFor] = []
        async with pool.acquire() as conn, conn.transaction():
            for kind, subject, label in await self.signers_in(conn, body.kind, address, now):
                secret = lifetimes.new_secret()
                await store.insert_link(conn, lifetimes.digest(secret), kind, subject, now,
                                        expires_at)  # fmt: skip
                await self.audit.record(conn, Outcome.LINK_SENT, kind, subject, client, now)
                links.append(mail.LinkFor(self.settings.link_url(secret), label))
        if links:
            subject, text = (
                mail.SUBJECT,
                mail.link_text(links, expires_at, self.settings.link_lifetime),
            )
        else:
            subject, text = mail.NO_ORGANISATION_SUBJECT, mail.NO_ORGANISATION_TEXT
        message = mail.compose(self.settings.center_name, self.settings.mail_from, address,
                               subject, text, now)  # fmt: skip
        try:
            await self.mailer.send(message)
        except mail.MailFailed:
            raise HTTPException(503, "the mail could not be sent now; please try again later",
                                headers={"Retry-After": "60"}) from None  # fmt: skip
        return Accepted(message="If this address may sign in, a sign-in link is on its way; "
                                "please check your mailbox.")  # fmt: skip

    async def signers_in(
        self, conn: store.Conn, kind: LinkKind, address: str, now: datetime
    ) -> list[tuple[PrincipalKind, str, str]]:
        """(kind, subject, label) of each session a link for `address` may open."""
        if kind is LinkKind.CITIZEN:
            return [(PrincipalKind.CITIZEN, address, address)]
        found = await store.organisations_of_contact(conn, address, MAX_ORGANISATIONS_PER_MAIL)
        return [(PrincipalKind.ORGANISATION, str(org.id), org.name or str(org.id))
                for org in found if standing(org, now) is Standing.ACTIVE]  # fmt: skip

    async def link_page(self, token: str) -> HTMLResponse:
        now = self.ctx.clock.now()
        link = None
        if lifetimes.plausible(token):
            link = await store.peek_link(self.ctx.pool, lifetimes.digest(token), now)
        if link is None:
            return page("bad_link", 400)
        if not (await self.admitted(link, now))[0]:
            return page("not_in_good_standing", 403)
        return page("confirm", action=f"/links/{token}")

    async def use_link(self, token: str, request: Request) -> HTMLResponse:
        now, client, pool = self.ctx.clock.now(), client_of(request), self.ctx.pool
        if not lifetimes.plausible(token):
            return page("bad_link", 400)
        async with pool.acquire() as conn, conn.transaction():
            link = await store.consume_link(conn, lifetimes.digest(token), now)
            if link is None:
                await self.audit.record(conn, Outcome.LINK_REFUSED, None, None, client, now)
                return page("bad_link", 400)
            admitted, name = await self.admitted(link, now, conn)
            if not admitted:
                await self.audit.record(
                    conn, Outcome.LINK_REFUSED, link.kind, link.subject, client, now
                )
                return page("not_in_good_standing", 403)
            opened = await sessions.open_session(conn, link.kind, link.subject, name, now,
                                                 client, self.settings.session)  # fmt: skip
            await self.audit.record(conn, Outcome.SUCCESS, link.kind, link.subject, client, now)
        response = page("signed_in")
        set_session_cookie(response, opened, self.settings, now)
        return response

    async def admitted(
        self, link: store.Link, now: datetime, conn: store.Conn | None = None
    ) -> tuple[bool, str | None]:
        """Whether the link may open a session now, and the name the session carries (an
        organisation's): a suspended or expired organisation's contact gets none."""
        if link.kind is not PrincipalKind.ORGANISATION:
            return True, None
        org = await store.load_organisation(conn or self.ctx.pool, UUID(link.subject))
        if org is None or standing(org, now) is not Standing.ACTIVE:
            return False, None
        return True, org.name or None

    # --- the kiosk --------------------------------------------------------------------------

    async def device_token(self, body: DeviceSecret, request: Request) -> Issued:
        now, client, pool = self.ctx.clock.now(), client_of(request), self.ctx.pool
        stored = await store.device_secret(pool, body.device)
        offered = lifetimes.digest(body.secret)
        if (
            stored is None
            or not lifetimes.plausible(body.secret)
            or not hmac.compare_digest(stored, offered)
        ):
            await self.audit.record(
                pool, Outcome.DEVICE_REFUSED, PrincipalKind.DEVICE, None, client, now
            )
            raise HTTPException(401, "unknown device or wrong secret")
        await self.audit.record(
            pool, Outcome.DEVICE_TOKEN, PrincipalKind.DEVICE, body.device, client, now
        )
        caller = Caller(PrincipalKind.DEVICE, body.device, name=body.device)
        token = self.signer.issue(PrincipalKind.DEVICE, body.device, name=body.device,
                                  lifetime_s=TOKEN_LIFETIME_S)  # fmt: skip
        return Issued(access_token=token, expires_in=TOKEN_LIFETIME_S, who=who(caller))


Token = Annotated[str, Path(max_length=lifetimes.MAX_SECRET_CHARS,
                            description="the secret of the mailed link")]  # fmt: skip


def build_router(
    routes: SignInRoutes, sign_in_limit: RateLimit, device_limit: RateLimit
) -> APIRouter:
    """`sign_in_limit` bounds how fast one client may even queue for a password check (each
    costs 64 MiB and a core for a while), before any count in the database is read."""
    guards = routes.guards
    router = APIRouter(tags=["sign-in"], dependencies=[Depends(guards.same_origin())])
    session_door = Depends(guards.session())

    @router.post("/staff/sign-in", responses=answers(401, 429),
                 dependencies=[PUBLIC, Depends(limited(sign_in_limit))],
                 **documented(Access.PUBLIC))  # fmt: skip
    async def staff_sign_in(body: SignIn, request: Request, response: Response) -> Who:
        """Sign in with username and password; the answer sets the session cookie. After 5
        failures within 15 minutes for an account (or 20 from one client address) sign-in is
        refused for 15 minutes (429 with Retry-After). Whether the username exists is never
        told: the answer and its timing are the same."""
        return await routes.sign_in(body, request, response)

    signed_in = Depends(guards.caller(Access.SIGNED_IN))

    @router.post("/staff/password", status_code=204, response_class=Response,
                 responses=answers(401, 403, 429), **documented(Access.SIGNED_IN))  # fmt: skip
    async def change_password(
        body: PasswordChange, request: Request, caller: Caller = signed_in
    ) -> Response:
        """A staff member changes their own password (the current one is required; 5 wrong
        ones lock the account as at sign-in). The account's other sessions end."""
        return await routes.change_password(body, caller, request)

    @router.post("/token", responses=answers(401, 403),
                 **documented(Access.SIGNED_IN))  # fmt: skip
    async def token(caller: Caller = session_door) -> Issued:
        """A bearer token for the other services, valid 5 minutes, for the session in the
        cookie (the request must carry X-Requested-By). It carries the kind, subject, roles and
        display name as they are now."""
        return await routes.token(caller)

    @router.get("/session", responses=answers(401), **documented(Access.SIGNED_IN))
    async def session(caller: Caller = session_door) -> Who:
        """Who the session in the cookie signs in as."""
        return who(caller)

    @router.post("/sign-out", status_code=204, response_class=Response,
                 responses=answers(403), dependencies=[PUBLIC, Security(COOKIE)],
                 **documented(Access.PUBLIC,
                              openapi_extra={"security": [{"session": []}, {}]}))  # fmt: skip
    async def sign_out(request: Request) -> Response:
        """End the session in the cookie (the request must carry X-Requested-By) and clear
        the cookie. Without a session there is nothing to end: 204 all the same."""
        return await routes.sign_out(request)

    @router.post("/sign-in/link", status_code=202,
                 responses=answers(429, 503), dependencies=[PUBLIC],
                 **documented(Access.PUBLIC))  # fmt: skip
    async def ask_for_link(body: LinkRequest, request: Request) -> Accepted:
        """Ask for a sign-in link by e-mail, as an organisation's registered contact or as a
        citizen. The answer is the same whether or not the address is known; the link works
        once, for 15 minutes. 3 requests per address and 10 per client within 15 minutes, then
        429. 503 when the mail could not be sent (try again)."""
        return await routes.ask_for_link(body, request)

    @router.get("/links/{token}", response_class=HTMLResponse, dependencies=[PUBLIC],
                responses={400: {"content": HTML}, 403: {"content": HTML}},
                **documented(Access.PUBLIC))  # fmt: skip
    async def link_page(token: Token) -> HTMLResponse:
        """The mailed link: a page with a button. Opening it uses nothing (mail scanners
        follow links). 403 page: the organisation is suspended or expired."""
        return await routes.link_page(token)

    @router.post("/links/{token}", response_class=HTMLResponse, dependencies=[PUBLIC],
                 responses={400: {"content": HTML}, 403: {"content": HTML}},
                 **documented(Access.PUBLIC))  # fmt: skip
    async def use_link(token: Token, request: Request) -> HTMLResponse:
        """The page's button: uses the link (once, atomically) and sets the session cookie.
        A used or expired link gets a page saying so (400); an organisation suspended or
        expired meanwhile gets no session (403 page: contact the reception)."""
        return await routes.use_link(token, request)

    @router.post("/token/device", responses=answers(401, 429),
                 dependencies=[PUBLIC, Depends(limited(device_limit))],
                 **documented(Access.PUBLIC))  # fmt: skip
    async def device_token(body: DeviceSecret, request: Request) -> Issued:
        """The kiosk exchanges its device secret for a bearer token valid 5 minutes (kind
        `device`, subject the device's name)."""
        return await routes.device_token(body, request)

    return router
