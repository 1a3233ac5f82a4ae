"""Publishing commands and awaiting their answers: one client for the kiosk, the web client and
services alike.

A command's answer carries `request_id` = the command's `message_id`. Each command carries the
sender's proof of identity (`proof` gives the bearer token for it), from which the service
decides what the sender may do. Kafka knows the client by its principal (`sender`,
deploy/kafka_acls.py), which may write the command topics it needs.

Answers come one of two ways. A service (trusted to read the answering service's events topic)
reads that topic from its end (as `reader`, the sender unless given), without a consumer
group, and resolves the waiting request whose
id comes back; it starts reading before it publishes, so an answer can never slip past. A client
that may not read events topics (the kiosk, the web client: those topics carry everyone's
contacts) gives `answers_url`, the answering service's HTTP address, and fetches the answer to
each of its own commands there, with the same proof (`GET /answers/{request_id}`).

Publishing the same command again (same message_id) is safe: the service answers it with the
very same outcome and acts once. The record's key is the command's own `partition_key()`, so
every client keys a command the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, Self, TypeVar
from uuid import UUID

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError
from pydantic import TypeAdapter

from clients.upstream import Upstream
from contracts.envelope import Message, header_fields
from contracts.identity import AUTHORIZATION_HEADER, BEARER
from contracts.topics import Topic
from services.runtime.errors import stopped
from services.runtime.kafka_auth import KafkaCredentials, connection_kwargs

Answer = TypeVar("Answer", bound=Message)
Proof = Callable[[Message], str | None]
"""The bearer token to send a command with (None: send it without proof)."""

ANSWER_WAIT_S = 10.0  # one long poll of GET /answers; the service holds it at most this long


class CommandsUnavailable(Exception):
    """A command could not be sent or its answer not read: Kafka or the service is away, or
    the service refused. A passing fault or a refusal, never a bug (a bug raises as it is)."""


class Unsent(CommandsUnavailable):
    """Kafka did not take the command: nothing was sent, and the same command may be sent
    again with its id."""


class AnswerRefused(CommandsUnavailable):
    """The service would not show the answer: the proof was refused (or another HTTP error)."""


def no_proof(_: Message) -> str | None:
    return None


class CommandClient(Generic[Answer]):
    def __init__(
        self,
        bootstrap: str,
        commands: Topic,
        answers: Topic,
        answer_adapter: TypeAdapter[Any],
        *,
        sender: KafkaCredentials,
        reader: KafkaCredentials | None = None,
        proof: Proof = no_proof,
        answers_url: str | None = None,
    ) -> None:
        self.commands, self.answers, self.adapter = commands, answers, answer_adapter
        self.proof = proof
        self.http = Upstream(answers_url) if answers_url else None
        self.fetches: set[asyncio.Task[None]] = set()
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            enable_idempotence=True,
            linger_ms=1,
            **connection_kwargs(sender),
        )
        self.consumer = (
            None
            if answers_url
            else AIOKafkaConsumer(
                bootstrap_servers=bootstrap,
                enable_auto_commit=False,
                fetch_max_wait_ms=20,
                **connection_kwargs(reader or sender),
            )
        )
        self.waiting: dict[UUID, asyncio.Future[Answer]] = {}
        self.reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:  # a refused login or topic: close what was opened, then say so
            await self.stop()
            raise

    async def _start(self) -> None:
        await self.producer.start()
        if self.consumer is None:
            return
        await self.consumer.start()
        # asked as the reader (the sender may not even describe the answers' topic), which
        # is created with its declared partitions
        if self.answers.name not in await self.consumer.topics():
            raise TopicAuthorizationFailedError(self.answers.name)
        tps = [TopicPartition(self.answers.name, p) for p in range(self.answers.partitions)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the end offsets now, before anything is published
            await self.consumer.position(tp)
        self.reader = asyncio.create_task(self._read(self.consumer))

    async def stop(self) -> None:
        for task in [*self.fetches, *([self.reader] if self.reader else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.http is not None:
            await self.http.aclose()
        if self.consumer is not None:
            await stopped(self.consumer.stop())
        await self.producer.stop()

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    if record.value is None:
                        continue
                    try:
                        answer = self.adapter.validate_json(record.value)
                    except ValueError:
                        continue  # not an answer this client can read: not ours to judge
                    request_id = getattr(answer, "request_id", None)
                    if request_id is None:
                        continue  # a fact nobody asked for (e.g. day.closing_time_set)
                    future = self.waiting.pop(request_id, None)
                    if future is not None and not future.done():
                        future.set_result(answer)

    async def send(self, cmd: Message, wait_ack: bool = True) -> asyncio.Future[Answer]:
        """Publish a command; the returned future resolves with its answer.

        With `wait_ack=False` the command is only queued in the producer (for load generators
        that publish thousands a second); delivery errors then surface on `flush()`.
        """
        future = self.waiting.get(cmd.message_id)
        if future is None or future.done():
            future = asyncio.get_running_loop().create_future()
            self.waiting[cmd.message_id] = future
        token = self.proof(cmd)
        delivery = await self._produce(cmd, token)
        if wait_ack:
            await delivery
        if self.http is not None and token is not None:
            task = asyncio.create_task(self._fetch(cmd.message_id, token, future))
            self.fetches.add(task)
            task.add_done_callback(self.fetches.discard)
        return future

    async def _produce(self, cmd: Message, token: str | None) -> asyncio.Future[Any]:
        headers = [(k, v.encode()) for k, v in header_fields(cmd).items()]
        if token is not None:
            headers.append((AUTHORIZATION_HEADER, (BEARER + token).encode()))
        delivery: asyncio.Future[Any] = await self.producer.send(
            self.commands.name,
            cmd.model_dump_json().encode(),
            key=cmd.partition_key().encode(),
            headers=headers,
        )
        return delivery

    async def publish(self, cmd: Message, token: str | None) -> None:
        """Publish a command with ``token`` as its proof (None: no person's, for a command
        anyone may send), once Kafka has it, and await nothing
        more: a client serving many people (the web pages) asks for the answer when it shows
        it, with the same person's token (`answer`). Unsent when Kafka did not take it."""
        try:
            await (await self._produce(cmd, token))
        except (KafkaError, OSError, TimeoutError) as error:
            raise Unsent(type(error).__name__) from error

    async def answer(self, request_id: UUID, token: str, wait: float) -> Answer | None:
        """The answer to one's command, waiting up to ``wait`` seconds (at most
        ANSWER_WAIT_S) for it at the service: None while there is none. AnswerRefused when the
        service will not show it (a token it refuses); CommandsUnavailable when the service
        cannot be reached or answers what no answer is."""
        if self.http is None:
            raise RuntimeError("answers are fetched over HTTP: give answers_url")
        try:
            response = await self.http.get(
                f"/answers/{request_id}",
                params={"wait": min(wait, ANSWER_WAIT_S)},
                headers={"Authorization": BEARER + token},
                timeout=ANSWER_WAIT_S + 5,
            )
        except httpx.HTTPError as error:
            raise CommandsUnavailable(type(error).__name__) from error
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise AnswerRefused(f"{response.status_code} {response.text[:200]}")
        try:
            answers = response.json().get("answers") or []
            found: Answer | None = self.adapter.validate_python(answers[0]) if answers else None
        except (ValueError, AttributeError) as error:  # not JSON, not an object, no answer
            raise CommandsUnavailable(f"unreadable answer ({type(error).__name__})") from error
        return found

    async def _fetch(self, request_id: UUID, token: str, future: asyncio.Future[Answer]) -> None:
        """Long-poll the service for the answer until it comes (the caller's timeout ends it)."""
        assert self.http is not None
        headers = {"Authorization": BEARER + token}
        while not future.done():
            try:
                response = await self.http.get(f"/answers/{request_id}",
                                               params={"wait": ANSWER_WAIT_S}, headers=headers,
                                               timeout=ANSWER_WAIT_S + 5)  # fmt: skip
            except httpx.TransportError:
                await asyncio.sleep(1.0)  # the service restarts: ask again
                continue
            if response.status_code == 200:
                answers = response.json().get("answers") or []
                if answers and not future.done():
                    future.set_result(self.adapter.validate_python(answers[0]))
                    return
                # handled without an answer event: the service answers at once; do not spin
                await asyncio.sleep(ANSWER_WAIT_S)
            elif response.status_code != 404:
                future.set_exception(AnswerRefused(f"{response.status_code} "
                                                   f"{response.text[:200]}"))  # fmt: skip
                return

    async def flush(self) -> None:
        await self.producer.flush()

    async def request(self, cmd: Message, timeout: float) -> Answer | None:
        """Publish and wait for the answer; None when it has not come within the timeout."""
        future = await self.send(cmd)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return None
