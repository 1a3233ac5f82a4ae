"""`python -m clients.web`: serve the pages (settings: clients/web/settings.py)."""

from __future__ import annotations

import logging

import uvicorn

from clients.web.app import create_app
from clients.web.settings import WebSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = WebSettings.from_env()
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port,
                proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips,
                access_log=False, log_config=None)  # fmt: skip


if __name__ == "__main__":
    main()
