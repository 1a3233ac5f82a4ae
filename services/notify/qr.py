"""The QR code of a check-in code, as a PNG to attach to the confirmation mail (issue 10: "a
check-in code (text and QR in the confirmation e-mail)").

segno writes the PNG itself (no imaging library). Always a full QR symbol, never a Micro QR:
segno would pick Micro QR for a text this short, and phone cameras and most kiosk scanners
read only full symbols. Error correction M keeps it readable from a creased print-out or a
scratched phone screen.
"""

from __future__ import annotations

import io

import segno

SCALE = 8  # pixels per module: a version-1 symbol with its border is 232 px wide
BORDER = 4  # the quiet zone the standard asks for


def png(text: str) -> bytes:
    symbol = segno.make_qr(text, error="m", boost_error=False)
    out = io.BytesIO()
    symbol.save(out, kind="png", scale=SCALE, border=BORDER)
    return out.getvalue()
