"""Newsletter rendering and the e-mail bytes: escaped HTML, both parts, per-recipient links,
the RFC 8058 headers, and a message any mail parser reads back unchanged."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from contracts.notify import Language
from services.notify import mime
from services.notify.newsletter import markdown_to_html, personalise, render_frame


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_markdown_becomes_html_and_raw_html_is_shown_as_text() -> None:
    html = markdown_to_html("# 助成金\n\n**締切** 6/30\n\n<script>alert(1)</script> Tom & Jerry")
    assert "<h1>助成金</h1>" in html and "<strong>締切</strong>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Tom &amp; Jerry" in html


def test_the_subject_is_escaped_in_the_html_frame() -> None:
    frame = render_frame("<b>News</b> & more", "<p>x</p>", "x", Language.EN)
    assert "&lt;b&gt;News&lt;/b&gt; &amp; more" in frame.html
    assert "<p>x</p>" in frame.html


def test_each_language_frame_names_the_center_its_hours_and_how_to_stop() -> None:
    ja = render_frame("s", "<p>b</p>", "b", Language.JA)
    en = render_frame("s", "<p>b</p>", "b", Language.EN)
    for part in (ja.text, ja.html):
        assert "横浜市市民協働推進センター" in part and "平日 9:00-20:00" in part
        assert "配信停止" in part
    for part in (en.text, en.html):
        assert "Yokohama Civic Collaboration Promotion Center" in part
        assert "weekends and holidays 9:00-17:00" in part and "nsubscribe" in part


def test_personalising_fills_both_links_and_escapes_them_in_html() -> None:
    frame = render_frame("s", "<p>b</p>", "b", Language.JA)
    text, html = personalise(frame, "https://x.example/u?token=a&b", "https://x.example/o/1.gif")
    assert "https://x.example/u?token=a&b" in text
    assert 'href="https://x.example/u?token=a&amp;b"' in html
    assert 'src="https://x.example/o/1.gif"' in html
    assert "@@" not in text + html


def test_a_newsletter_message_parses_back_with_both_parts_and_one_click_headers() -> None:
    raw = mime.build(
        from_=mime.from_header("横浜市市民協働推進センター", "info@center.example"),
        to="hanako@example.org",
        subject=mime.encode_header("メルマガ 第12号 / Newsletter no. 12"),
        message_id="<delivery-9@center.example>",
        text="本文 " * 400,
        html="<p>本文</p>" * 300,
        headers=[
            ("List-Unsubscribe", "<https://center.example/u?token=t>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ],
    )
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    msg = parse(raw)
    assert msg["Subject"] == "メルマガ 第12号 / Newsletter no. 12"
    assert msg["To"] == "hanako@example.org"
    assert "横浜市市民協働推進センター" in str(msg["From"])
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content() == "本文 " * 400
    assert html.get_content() == "<p>本文</p>" * 300


def test_a_plain_message_has_one_text_part() -> None:
    msg = parse(
        mime.build(
            from_="a@b.example",
            to="c@d.example",
            subject="Hello",
            message_id="<m@b.example>",
            text="こんにちは\n",
        )
    )
    assert not msg.is_multipart() and msg.get_content() == "こんにちは\n"
