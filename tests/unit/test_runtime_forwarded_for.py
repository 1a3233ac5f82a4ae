"""Whose address a service counts a client under (throttles, audit): X-Forwarded-For is
believed only from the configured proxies (FORWARDED_ALLOW_IPS: the web client or a reverse
proxy on the same host); anyone else's header is ignored, so no client picks the address its
attempts are counted under."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request

from services.runtime.http import build_server
from services.runtime.settings import RuntimeSettings


def app() -> FastAPI:
    made = FastAPI()

    @made.get("/who")
    async def who(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    return made


async def seen(proxies: str, peer: str, forwarded: str | None) -> str:
    server = build_server(app(), "127.0.0.1", 0, proxies)
    server.config.load()  # what uvicorn serves: the app behind its proxy-headers layer
    transport = httpx.ASGITransport(app=server.config.loaded_app, client=(peer, 50000))
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        return str((await http.get("/who", headers=headers)).json())


async def test_a_trusted_proxy_forwards_the_browsers_address() -> None:
    assert await seen("127.0.0.1", "127.0.0.1", "203.0.113.7") == "203.0.113.7"
    assert await seen("10.0.0.0/8", "10.1.2.3", "203.0.113.7") == "203.0.113.7"


async def test_an_untrusted_peers_header_is_ignored() -> None:
    assert await seen("127.0.0.1", "198.51.100.9", "203.0.113.7") == "198.51.100.9"
    assert await seen("10.0.0.1", "127.0.0.1", "203.0.113.7") == "127.0.0.1"


def test_the_proxies_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVELOPMENT", "1")
    assert RuntimeSettings.from_env("booking", 8081).forwarded_allow_ips == "127.0.0.1"
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.5,10.0.0.6")
    assert RuntimeSettings.from_env("booking", 8081).forwarded_allow_ips == "10.0.0.5,10.0.0.6"
