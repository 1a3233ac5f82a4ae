"""Rendering a newsletter issue: Markdown to HTML and text once per issue, then per recipient
only the links that differ (unsubscribe, open pixel). Pure functions, no I/O.

The HTML frame is a Jinja2 template with autoescaping on: subject and every other value are
escaped; the issue body is the Markdown rendering, in which raw HTML typed by staff is shown as
text rather than passed through, so a pasted snippet can never put a script or a form into the
subscribers' mail. Each frame names the center, how to reach it, and how to stop the newsletter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import markdown
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from contracts.notify import Language

UNSUBSCRIBE_SLOT = "@@UNSUBSCRIBE_URL@@"
PIXEL_SLOT = "@@OPEN_PIXEL_URL@@"

_frames = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def markdown_to_html(source: str) -> str:
    """Markdown as HTML, with any raw HTML in the source escaped into visible text."""
    html: str = markdown.markdown(
        source.replace("&", "&amp;").replace("<", "&lt;"),
        extensions=["sane_lists", "nl2br"],
        output_format="html",
    )
    return html


@dataclass(frozen=True)
class Frame:
    """One issue in one language, with slots for the per-recipient links."""

    subject: str
    text: str
    html: str


def render_frame(subject: str, body_html: str, body_text: str, language: Language) -> Frame:
    context = {
        "subject": subject,
        "body_html": Markup(body_html),
        "body_text": body_text,
        "unsubscribe_url": UNSUBSCRIBE_SLOT,
        "pixel_url": PIXEL_SLOT,
    }
    return Frame(
        subject=subject,
        text=_frames.get_template(f"newsletter.{language}.txt").render(**context),
        html=_frames.get_template(f"newsletter.{language}.html").render(**context),
    )


def personalise(frame: Frame, unsubscribe_url: str, pixel_url: str) -> tuple[str, str]:
    """(text, html) for one recipient: the slots filled, escaped for HTML where they land."""
    html = frame.html.replace(UNSUBSCRIBE_SLOT, str(escape(unsubscribe_url)))
    html = html.replace(PIXEL_SLOT, str(escape(pixel_url)))
    return frame.text.replace(UNSUBSCRIBE_SLOT, unsubscribe_url), html
