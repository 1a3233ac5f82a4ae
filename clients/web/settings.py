"""Settings of the web client, from the environment, with documented defaults."""

from __future__ import annotations

from dataclasses import dataclass

from services import registry
from services.runtime.kafka_auth import KafkaCredentials, credentials_from_env
from services.runtime.secrets import require_secret
from services.runtime.settings import env_float, env_int, env_str

NAME = "web"
DEV_SECRET_KEY = "development-only web signing key, public in the repository"


def _default_url(service: str) -> str:
    return f"http://127.0.0.1:{registry.service(service).http_port}"


@dataclass(frozen=True)
class WebSettings:
    """HTTP_HOST, HTTP_PORT   where the pages are served (127.0.0.1, the registry's port)
    PUBLIC_BASE_URL     where browsers reach the pages (default http://127.0.0.1:<HTTP_PORT>);
                        its origin is the one a form may be posted from, and an https address
                        makes the cookies Secure with the __Host- prefix
    BOOKING_URL         the booking service's HTTP address (default the registry's port)
    EVENTS_URL          the events service's (default the registry's port): the participants
                        report
    NOTIFY_URL          the notify service's (default the registry's port): the newsletter's
                        subscription, the editor's preview and an issue's progress
    CONSULTATION_URL    the consultation service's (default the registry's port): the public
                        consultation form posts through this client to its intake
    IDENTITY_URL        the identity service's (default the registry's port); the sign-in
                        links identity mails must point at this client (identity's
                        LINK_BASE_URL, which a stack sets from WEB_URL)
    KAFKA_BOOTSTRAP     the brokers commands are published to (default 127.0.0.1:19092), as the
                        `web` principal: KAFKA_USERNAME, KAFKA_PASSWORD (services/runtime/
                        kafka_auth.py; development passwords with DEVELOPMENT=1)
    WEB_SECRET_KEY      signs the forms' CSRF tokens: required outside DEVELOPMENT=1, at least
                        32 random bytes (services/runtime/secrets.py)
    FORWARDED_ALLOW_IPS the proxies whose X-Forwarded-For is believed (default 127.0.0.1)
    ANSWER_WAIT_S       how long a page waits for a command's outcome before it shows the
                        pending state (default 8; the outcome page then waits again)
    TOKEN_REUSE_S       how long a bearer token from identity is reused for a session (default
                        240, less than its 300-second life)
    """

    http_host: str
    http_port: int
    public_base_url: str
    booking_url: str
    identity_url: str
    kafka_bootstrap: str
    kafka_credentials: KafkaCredentials
    secret_key: bytes
    forwarded_allow_ips: str
    answer_wait_s: float
    token_reuse_s: float
    consultation_url: str = ""
    notify_url: str = ""
    events_url: str = ""

    @property
    def secure_cookies(self) -> bool:
        return self.public_base_url.startswith("https://")

    @property
    def origin(self) -> str:
        scheme, _, rest = self.public_base_url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}".lower()

    @classmethod
    def from_env(cls) -> WebSettings:
        port = env_int("HTTP_PORT", registry.service(NAME).http_port)
        return cls(
            http_host=env_str("HTTP_HOST", "127.0.0.1"),
            http_port=port,
            public_base_url=env_str("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}").rstrip("/"),
            booking_url=env_str("BOOKING_URL", _default_url("booking")).rstrip("/"),
            identity_url=env_str("IDENTITY_URL", _default_url("identity")).rstrip("/"),
            kafka_bootstrap=env_str("KAFKA_BOOTSTRAP", "127.0.0.1:19092"),
            kafka_credentials=credentials_from_env(NAME),
            secret_key=require_secret("WEB_SECRET_KEY", DEV_SECRET_KEY),
            forwarded_allow_ips=env_str("FORWARDED_ALLOW_IPS", "127.0.0.1"),
            answer_wait_s=env_float("ANSWER_WAIT_S", 8.0),
            token_reuse_s=env_float("TOKEN_REUSE_S", 240.0),
            consultation_url=env_str("CONSULTATION_URL", _default_url("consultation")).rstrip("/"),
            notify_url=env_str("NOTIFY_URL", _default_url("notify")).rstrip("/"),
            events_url=env_str("EVENTS_URL", _default_url("events")).rstrip("/"),
        )
