"""The command client says which faults are passing ones: Kafka not taking a command is `Unsent`,
a service that cannot be reached or answers what no answer is, `CommandsUnavailable`; a page
shows those as 'try again' and nothing else."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx
import pytest
from aiokafka.errors import KafkaConnectionError

from clients.commands import AnswerRefused, CommandClient, CommandsUnavailable, Unsent
from contracts.booking import SpaceId, booking_event_adapter
from contracts.topics import BOOKING_COMMANDS, BOOKING_EVENTS
from services.runtime.kafka_auth import KafkaCredentials
from tests.support import DAYS, at, reservation


class AwayProducer:
    async def send(self, *args: Any, **kwargs: Any) -> Any:
        raise KafkaConnectionError("no broker")

    async def stop(self) -> None:
        pass


async def client_answering(status: int, body: bytes) -> CommandClient[Any]:
    client: CommandClient[Any] = CommandClient(
        "127.0.0.1:1", BOOKING_COMMANDS, BOOKING_EVENTS, booking_event_adapter,
        sender=KafkaCredentials("web", "secret"), answers_url="http://booking.test",
    )  # fmt: skip
    await client.producer.stop()  # never started: only its place is taken
    client.producer = AwayProducer()  # type: ignore[assignment]
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    client.http = httpx.AsyncClient(transport=transport, base_url="http://booking.test")  # type: ignore[assignment]
    return client


async def test_kafka_not_taking_a_command_is_unsent() -> None:
    client = await client_answering(404, b"")
    with pytest.raises(Unsent):
        day = DAYS.next()
        await client.publish(reservation(uuid4(), SpaceId.A, at(day, 10), at(day, 11)), "token")


@pytest.mark.parametrize(
    ("status", "body", "raised"),
    [
        (200, b"<html>not json</html>", CommandsUnavailable),
        (200, b"[1, 2]", CommandsUnavailable),
        (200, b'{"answers": [{"type": "no.such.event"}]}', CommandsUnavailable),
        (403, b"refused", AnswerRefused),
    ],
)
async def test_an_answer_that_cannot_be_read_is_a_passing_fault(
    status: int, body: bytes, raised: type[Exception]
) -> None:
    client = await client_answering(status, body)
    with pytest.raises(raised):
        await client.answer(uuid4(), "token", 0.1)
