"""The pages a person sees after opening a sign-in link, in Japanese and English.

Opening the link (GET) only shows a page with a button: mail scanners and link previews fetch
every link in a mail, and must not use up a single-use link or start a session. The button POSTs
to the same address, which uses the link.
"""

from __future__ import annotations

from pathlib import Path

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

PAGE_HEADERS = {
    # the link's token is in the address: no referrer, no cache, nothing from elsewhere
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)

TEXTS: dict[str, tuple[str, str, str, str]] = {
    "confirm": ("サインイン", "下のボタンを押すとサインインします。"
                "ご自身で依頼していない場合は、このページを閉じてください。",
                "Sign in", "Press the button below to sign in. If you did not ask for this "
                "link, just close this page."),
    "signed_in": ("サインインしました", "このブラウザでセンターのサービスをご利用いただけます。",
                  "You are signed in", "You can now use the center's services in this browser."),
    "bad_link": ("リンクが無効です", "このリンクは使用済みか、有効期限（15分）が切れています。"
                 "お手数ですが、もう一度サインイン用リンクをご依頼ください。",
                 "This link does not work", "The link has been used already or has expired "
                 "(it works once, for 15 minutes). Please ask for a new sign-in link."),
    "not_in_good_standing": ("サインインできません",
                             "この団体の登録は利用停止中か、有効期限が切れています。"
                             "センターの窓口にお問い合わせください。",
                             "You cannot sign in", "This organisation's registration is "
                             "suspended or has expired. Please contact the center's reception."),
}  # fmt: skip
BUTTON = ("サインインする", "Sign in")


def page(name: str, status: int = 200, action: str = "") -> HTMLResponse:
    title_ja, text_ja, title_en, text_en = TEXTS[name]
    buttons = BUTTON if action else ("", "")
    html = _templates.get_template("page.html").render(
        title_ja=title_ja, text_ja=text_ja, title_en=title_en, text_en=text_en,
        button_ja=buttons[0], button_en=buttons[1], action=action,
    )  # fmt: skip
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
