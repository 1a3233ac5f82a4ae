"""HTTP routes of the notify service: subscribe, confirm, unsubscribe (pages a person sees from a
link in an e-mail, and the RFC 8058 one-click POST), the open-tracking pixel, and the progress
and open rate of newsletter issues for staff.

Links are checked before anything is touched: a forged or altered token gets a 400 page and
changes nothing. The pixel answers the same image whatever the token, so it reveals nothing.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from uuid import UUID

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, EmailStr

from contracts.envelope import new_message_id, utc_now
from contracts.notify import Language
from services.notify import domain, links, store
from services.notify.handlers import Handlers
from services.runtime.service import ServiceContext

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")

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
}  # fmt: skip


def page(name: str, status: int = 200) -> HTMLResponse:
    title_ja, text_ja, title_en, text_en = PAGES[name]
    html = _pages.get_template("page.html").render(
        title_ja=title_ja, text_ja=text_ja, title_en=title_en, text_en=text_en
    )
    return HTMLResponse(html, status_code=status)


class SubscriptionRequest(BaseModel):
    email: EmailStr
    language: Language = Language.JA


def progress_view(row: dict[str, Any]) -> dict[str, Any]:
    sent, opened, remaining = row["sent"], row["opened"], row["remaining"]
    return {
        "issue": str(row["id"]),
        "subject": row["subject"],
        "status": "done" if row["status"] == "sending" and remaining == 0 else row["status"],
        "send_at": row["send_at"].isoformat(),
        "recipients": row["recipients"],
        "sent": sent,
        "failed": row["failed"],
        "remaining": remaining,
        "opened": opened,
        "rate": round(domain.open_rate(sent, opened), 4),
        "seconds_left": domain.seconds_left(remaining, row["sent_last_10s"]),
    }


def build_routers(ctx: ServiceContext, handlers: Handlers) -> list[APIRouter]:
    router = APIRouter(tags=["newsletter"])
    key = handlers.settings.signing_key

    @router.post("/subscribers", status_code=202)
    async def subscribe(request: SubscriptionRequest) -> dict[str, str]:
        """Ask for the newsletter; a confirmation e-mail follows (double opt-in). The answer is
        the same whether or not the address was subscribed already, so it reveals nothing."""
        async with ctx.pool.acquire() as conn, conn.transaction():
            await handlers.request_subscription(
                conn, str(request.email), request.language, new_message_id()
            )
        return {
            "status": "confirmation_sent",
            "message": "Please open the link in the e-mail we sent to confirm.",
        }

    @router.get("/subscribers/confirm", response_class=HTMLResponse)
    async def confirm(token: str) -> HTMLResponse:
        read = links.read_confirm_token(key, token, utc_now())
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

    @router.get("/subscribers/unsubscribe", response_class=HTMLResponse)
    async def unsubscribe_page(token: str) -> HTMLResponse:
        """The link in every newsletter: one click, done."""
        return page("unsubscribed") if await unsubscribe(token) else page("bad_unsubscribe", 400)

    @router.post("/subscribers/unsubscribe")
    async def unsubscribe_one_click(token: str) -> JSONResponse:
        """RFC 8058: mail programs POST `List-Unsubscribe=One-Click` to the List-Unsubscribe URL."""
        if await unsubscribe(token):
            return JSONResponse({"status": "unsubscribed"})
        return JSONResponse({"error": "invalid unsubscribe token"}, status_code=400)

    @router.get("/o/{token}.gif", include_in_schema=False)
    async def pixel(token: str) -> Response:
        if (delivery_id := links.read_open_token(key, token)) is not None:
            await store.record_open(ctx.pool, delivery_id)
        return Response(PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})

    @router.get("/newsletters/{issue_id}")
    async def progress(issue_id: UUID) -> dict[str, Any]:
        """Progress of an issue (sent / failed / remaining, time left) and its open rate."""
        row = await store.issue_progress(ctx.pool, issue_id)
        if row is None:
            raise HTTPException(404, f"no newsletter issue {issue_id}")
        return progress_view(row)

    return [router]
