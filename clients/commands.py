"""Publishing commands and awaiting their answers: one client for the kiosk, the web client and
services alike.

A command's answer carries `request_id` = the command's `message_id`. The client reads the
answering service's events topic from its end, without a consumer group (every client sees every
answer), and resolves the waiting request whose id comes back. It starts reading before it
publishes, so an answer can never slip past. Publishing the same command again (same message_id)
is safe: the service answers it with the very same outcome and acts once. The record's key is
the command's own `partition_key()`, so every client keys a command the same way.

Kafka knows every client by its principal (deploy/kafka_acls.py): `sender` publishes the
commands, and `reader` (the sender unless given) reads the answers. A client principal such as
`kiosk` may write its command topics but read no events topic, so until answers reach clients
over HTTP, reading them here takes a principal that may (the tests' `admin`).
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Any, Generic, Self, TypeVar
from uuid import UUID

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import TopicAuthorizationFailedError
from pydantic import TypeAdapter

from contracts.envelope import Message, header_fields
from contracts.topics import Topic
from services.runtime.kafka_auth import KafkaCredentials, connection_kwargs

Answer = TypeVar("Answer", bound=Message)


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
    ) -> None:
        self.commands, self.answers, self.adapter = commands, answers, answer_adapter
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            enable_idempotence=True,
            linger_ms=1,
            **connection_kwargs(sender),
        )
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            fetch_max_wait_ms=20,
            **connection_kwargs(reader or sender),
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
        self.reader = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self.reader:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader
        await self.consumer.stop()
        await self.producer.stop()

    async def _read(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=200)
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
        headers = [(k, v.encode()) for k, v in header_fields(cmd).items()]
        delivery = await self.producer.send(
            self.commands.name,
            cmd.model_dump_json().encode(),
            key=cmd.partition_key().encode(),
            headers=headers,
        )
        if wait_ack:
            await delivery
        return future

    async def flush(self) -> None:
        await self.producer.flush()

    async def request(self, cmd: Message, timeout: float) -> Answer | None:
        """Publish and wait for the answer; None when it has not come within the timeout."""
        future = await self.send(cmd)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return None
