"""HTTP routes of the notify service: subscribe, confirm, unsubscribe (pages a person sees from a
link in an e-mail, and the RFC 8058 one-click POST), the open-tracking pixel, and the progress
and open rate of newsletter issues for staff.

Links are checked before anything is touched: a forged or altered token gets a 400 page and
changes nothing. The pixel answers the same image whatever the token, so it reveals nothing.

Following the unsubscribe link (GET) changes nothing: mail scanners and link previews fetch
every link of a message, and would unsubscribe the reader. It shows a page whose button POSTs
to the same URL; that POST, like a mail program's RFC 8058 one-click POST, unsubscribes at once.

`POST /subscribers` sends an e-mail, so a client may ask only so often: a token bucket per client
address (SUBSCRIBE_BURST requests at once, default 10, then SUBSCRIBE_PER_MINUTE a minute,
default 6), then 429 with Retry-After. The limit per e-mail address is the handler's.

Who may call (services/runtime/http_auth.py): the subscription pages, the one-click POST and the
pixel are public (the signed token in the link is their proof, and they show nobody's data);
the progress of an issue is for newsletter editors, the auditor and the administrator
(`NEWSLETTER_READERS`); the preview of an issue's body (`POST /newsletters/preview`, rendered by
the sender's own Markdown rules, nothing stored) for editors.
"""

from __future__ import annotations

import base64
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, EmailStr, Field

from contracts.envelope import new_message_id
from contracts.identity import Role
from contracts.notify import Language
from services.notify import domain, links, newsletter, store
from services.notify.handlers import Handlers
from services.runtime.http import RateLimit, error_response, error_responses, limited
from services.runtime.http_auth import PUBLIC, Doors
from services.runtime.identity import staff
from services.runtime.service import ServiceContext
from services.runtime.settings import env_float, env_int

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
# Signed tokens are about a hundred characters; anything far longer is not one of ours.
MAX_TOKEN = 512
# Pages carry a token in their URL: no referrer, no caching, no scripts, forms post home only.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# Who follows the sending of an issue: its editors, and the auditor (reads, changes nothing).
NEWSLETTER_READERS = staff(Role.NEWSLETTER_EDITOR, Role.AUDITOR)
NEWSLETTER_EDITORS = staff(Role.NEWSLETTER_EDITOR)
Token = Annotated[str, Query(max_length=MAX_TOKEN, description="the token of the e-mailed link")]

_pages = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)

PAGES: dict[str, tuple[str, str, str, str]] = {
    "confirmed": ("登録が完了しました", "メールマガジンをお届けします。",
                  "Subscription confirmed", "You will receive the center's newsletter."),
    "already": ("登録済みです", "このアドレスには既にメールマガジンをお届けしています。",
                "Already subscribed", "This address already receives the newsletter."),
    "bad_confirm": ("リンクが無効です", "リンクが正しくないか、有効期限が切れています。"
                    "お手数ですが、もう一度お申し込みください。",
                    "This link does not work", "The link is not valid or has expired; "
                    "please subscribe again."),
    "unsubscribed": ("配信を停止しました", "今後メールマガジンはお届けしません。"
                     "再開はウェブサイトからいつでもお申し込みいただけます。",
                     "Unsubscribed", "You will receive no more newsletters. You can subscribe "
                     "again at any time on our web site."),
    "bad_unsubscribe": ("リンクが無効です", "配信停止リンクが正しくありません。お手数ですが、"
                        "センターまでご連絡ください。", "This link does not work",
                        "The unsubscribe link is not valid; please contact the center."),
    "unsubscribe": ("配信停止の確認", "メールマガジンの配信を停止するには、下のボタンを押して"
                    "ください。", "Unsubscribe?", "To stop receiving the newsletter, press the "
                    "button below."),
    "confirm": ("登録の確認", "メールマガジンの登録を完了するには、下のボタンを押してください。"
                "お申し込みに覚えがない場合は、このページを閉じてください。",
                "Confirm your subscription?", "To receive the newsletter, press the button "
                "below. If you did not ask for it, just close this page."),
}  # fmt: skip
BUTTON = ("配信を停止する", "Unsubscribe")
CONFIRM_BUTTON = ("登録する", "Subscribe")

HTML = {"text/html": {"schema": {"type": "string"}}}


def page(name: str, status: int = 200, template: str = "page.html", **extra: str) -> HTMLResponse:
    title_ja, text_ja, title_en, text_en = PAGES[name]
    html = _pages.get_template(template).render(
        title_ja=title_ja, text_ja=text_ja, title_en=title_en, text_en=text_en, **extra
    )
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def wants_html(request: Request) -> bool:
    """A person's browser (the page's button) rather than a mail program's one-click POST."""
    return "text/html" in request.headers.get("accept", "")


class PreviewRequest(BaseModel):
    subject: str = Field(min_length=1, max_length=200)
    body_markdown: str = Field(min_length=1, max_length=200_000)


class Preview(BaseModel):
    html: str = Field(description="the body as subscribers will see it: Markdown rendered by "
                      "the sender's own rules (raw HTML shown as text, links http/https/mailto)")
    text: str


class SubscriptionRequest(BaseModel):
    email: EmailStr
    language: Language = Language.JA


class SubscriptionAccepted(BaseModel):
    status: Literal["confirmation_sent"]
    message: str


class Unsubscribed(BaseModel):
    status: Literal["unsubscribed"]


class IssueProgress(BaseModel):
    issue: UUID
    subject: str
    status: str = Field(description="scheduled, sending or done")
    send_at: datetime
    recipients: int | None
    sent: int
    failed: int
    remaining: int
    opened: int
    rate: float = Field(description="opened / sent")
    seconds_left: float | None = Field(description="at the pace of the last 10 s; null while "
                                                   "nothing moves")  # fmt: skip


def progress_view(row: dict[str, Any]) -> IssueProgress:
    sent, opened, remaining = row["sent"], row["opened"], row["remaining"]
    return IssueProgress(
        issue=row["id"],
        subject=row["subject"],
        status="done" if row["status"] == "sending" and remaining == 0 else row["status"],
        send_at=row["send_at"],
        recipients=row["recipients"],
        sent=sent,
        failed=row["failed"],
        remaining=remaining,
        opened=opened,
        rate=round(domain.open_rate(sent, opened), 4),
        seconds_left=domain.seconds_left(remaining, row["sent_last_10s"]),
    )


def subscribe_limit() -> RateLimit:
    return RateLimit(per_minute=env_float("SUBSCRIBE_PER_MINUTE", 6.0),
                     burst=env_int("SUBSCRIBE_BURST", 10))  # fmt: skip


def build_routers(ctx: ServiceContext, handlers: Handlers) -> list[APIRouter]:
    router = APIRouter(tags=["newsletter"])
    key = handlers.settings.signing_key
    limit = subscribe_limit()
    doors = Doors.of(ctx)

    newsletter_readers = doors.lock(NEWSLETTER_READERS)
    editors = doors.lock(NEWSLETTER_EDITORS)

    @router.post("/newsletters/preview", responses=error_responses(400),
                 dependencies=[Depends(editors)])  # fmt: skip
    async def preview(body: PreviewRequest) -> Preview:
        """An issue's body as the sender will render it, before it is published: the editor's
        preview. Nothing is stored or sent."""
        return Preview(html=newsletter.markdown_to_html(body.body_markdown),
                       text=body.body_markdown)  # fmt: skip

    @router.post("/subscribers", status_code=202, dependencies=[PUBLIC, Depends(limited(limit))],
                 responses=error_responses(400, 429))  # fmt: skip
    async def subscribe(request: SubscriptionRequest) -> SubscriptionAccepted:
        """Ask for the newsletter; a confirmation e-mail follows (double opt-in). The answer is
        the same whether or not the address was subscribed already, so it reveals nothing.
        A client may ask SUBSCRIBE_BURST times at once, then SUBSCRIBE_PER_MINUTE a minute.
        An address the center cannot write to (a non-ASCII part before the @) is refused with a
        readable reason, in English and Japanese."""
        try:
            domain.subscriber_address(str(request.email))
        except domain.AddressRefused as refused:
            raise HTTPException(400, f"{refused} / {refused.reason_ja}") from None
        async with ctx.pool.acquire() as conn, conn.transaction():
            await handlers.request_subscription(
                conn, str(request.email), request.language, new_message_id()
            )
        return SubscriptionAccepted(
            status="confirmation_sent",
            message="Please open the link in the e-mail we sent to confirm.",
        )

    @router.get(
        "/subscribers/confirm",
        response_class=HTMLResponse,
        dependencies=[PUBLIC],
        responses={400: {"content": HTML, "description": "the link does not work"}},
    )
    async def confirm_page(token: Token) -> HTMLResponse:
        """The link in the confirmation e-mail: a page with a button, which POSTs here.
        Following the link confirms nothing: a mail scanner following the links in the mailbox
        of someone whose address a stranger typed in must not complete the opt-in."""
        if links.read_confirm_token(key, token, handlers.settings.clock.now()) is None:
            return page("bad_confirm", 400)
        return page("confirm", template="button.html", token=token, action="confirm",
                    one_click="", button_ja=CONFIRM_BUTTON[0],
                    button_en=CONFIRM_BUTTON[1])  # fmt: skip

    @router.post(
        "/subscribers/confirm",
        response_class=HTMLResponse,
        dependencies=[PUBLIC],
        responses={400: {"content": HTML, "description": "the link does not work"}},
    )
    async def confirm(token: Token) -> HTMLResponse:
        """The page's button: the double opt-in is complete."""
        read = links.read_confirm_token(key, token, handlers.settings.clock.now())
        if read is None:
            return page("bad_confirm", 400)
        async with ctx.pool.acquire() as conn, conn.transaction():
            outcome = await store.confirm(conn, *read)
        return page("bad_confirm", 400) if outcome == "invalid" else page(outcome)

    async def unsubscribe(token: str) -> bool:
        subscriber_id = links.read_unsubscribe_token(key, token)
        if subscriber_id is None:
            return False
        async with ctx.pool.acquire() as conn, conn.transaction():
            return await store.unsubscribe(conn, subscriber_id)

    @router.get(
        "/subscribers/unsubscribe",
        response_class=HTMLResponse,
        dependencies=[PUBLIC],
        responses={400: {"content": HTML, "description": "the link does not work"}},
    )
    async def unsubscribe_page(token: Token) -> HTMLResponse:
        """The link in every newsletter: a page with a button, which POSTs here. Following the
        link changes nothing (mail scanners follow every link)."""
        if links.read_unsubscribe_token(key, token) is None:
            return page("bad_unsubscribe", 400)
        return page("unsubscribe", template="button.html", token=token, action="unsubscribe",
                    one_click="1", button_ja=BUTTON[0], button_en=BUTTON[1])  # fmt: skip

    @router.post(
        "/subscribers/unsubscribe",
        response_model=Unsubscribed,
        dependencies=[PUBLIC],
        responses={200: {"content": HTML}, 400: {"content": HTML,
                                                 "description": "the link does not work"}},
        openapi_extra={"requestBody": {"required": False, "content": {
            "application/x-www-form-urlencoded": {"schema": {
                "type": "object", "properties": {"List-Unsubscribe": {"const": "One-Click"}}}}}}},
    )  # fmt: skip
    async def unsubscribe_one_click(request: Request, token: Token) -> Response:
        """RFC 8058: mail programs POST `List-Unsubscribe=One-Click` here, and so does the
        page's button. One step, no confirmation; a page for a browser, JSON otherwise."""
        done = await unsubscribe(token)
        if wants_html(request):
            return page("unsubscribed") if done else page("bad_unsubscribe", 400)
        if done:
            return JSONResponse({"status": "unsubscribed"})
        return error_response(400, "invalid unsubscribe token")

    @router.get("/o/{token}.gif", response_class=Response, dependencies=[PUBLIC],
                responses={200: {"content": {"image/gif": {"schema": {"type": "string",
                                                                      "format": "binary"}}},
                                 "description": "a 1x1 image, whatever the token"}})  # fmt: skip
    async def pixel(token: str) -> Response:
        """The open-tracking pixel of a newsletter: the image whatever the token, so it tells a
        prober nothing; only a genuine token of a sane length is looked at."""
        if len(token) <= MAX_TOKEN and (delivery_id := links.read_open_token(key, token)):
            await store.record_open(ctx.pool, delivery_id)
        return Response(PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})

    @router.get("/newsletters/{issue_id}", responses=error_responses(404),
                dependencies=[Depends(newsletter_readers)])  # fmt: skip
    async def progress(issue_id: UUID) -> IssueProgress:
        """Progress of an issue (sent / failed / remaining, time left) and its open rate, for
        newsletter editors and the auditor."""
        row = await store.issue_progress(ctx.pool, issue_id)
        if row is None:
            raise HTTPException(404, f"no newsletter issue {issue_id}")
        return progress_view(row)

    return [router]
