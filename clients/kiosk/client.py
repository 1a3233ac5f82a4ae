"""Publishing booking commands and awaiting their outcomes on `booking.events`.

A command's answer carries `request_id` = the command's `message_id`. The client reads
`booking.events` from its end, without a consumer group (every client sees every outcome), and
resolves the waiting request whose id comes back. It starts reading before it publishes, so an
answer can never slip past. Publishing the same command again (same message_id) is safe: the
booking service answers it with the very same outcome and acts once.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from uuid import UUID

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.booking import (
    BookingCommandT,
    BookingEventT,
    CancelReservation,
    LabCheckIn,
    LabCheckOut,
    LiftBlackout,
    RegisterOrganisation,
    RequestReservation,
    SetBlackout,
    booking_event_adapter,
)
from contracts.envelope import header_fields
from contracts.topics import BOOKING_COMMANDS, BOOKING_EVENTS

Outcome = BookingEventT
Command = BookingCommandT


def command_key(cmd: Command) -> str:
    """Reservations are keyed by space (one space's requests stay in order), cancellations by
    reservation, registrations by contact e-mail, other organisation commands by organisation,
    the Lab's check-ins and check-outs by `lab` (its slips are numbered in order), blackouts and
    their lifting by day (in order per day)."""
    if isinstance(cmd, RequestReservation):
        return cmd.space.value
    if isinstance(cmd, CancelReservation):
        return str(cmd.reservation_id)
    if isinstance(cmd, RegisterOrganisation):
        return str(cmd.contact_email)
    if isinstance(cmd, LabCheckIn | LabCheckOut):
        return "lab"
    if isinstance(cmd, SetBlackout | LiftBlackout):
        return cmd.day.isoformat()
    return str(cmd.organisation_id)


class BookingClient:
    def __init__(self, bootstrap: str) -> None:
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=1
        )
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20
        )
        self.waiting: dict[UUID, asyncio.Future[Outcome]] = {}
        self.reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> BookingClient:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        await self.producer.start()
        await self.consumer.start()
        partitions = await self.producer.partitions_for(BOOKING_EVENTS.name)
        tps = [TopicPartition(BOOKING_EVENTS.name, p) for p in sorted(partitions)]
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
                        event = booking_event_adapter.validate_json(record.value)
                    except ValueError:
                        continue  # not ours to judge: the booking service only emits valid events
                    if event.request_id is None:
                        continue  # a fact nobody asked for (e.g. day.closing_time_set)
                    future = self.waiting.pop(event.request_id, None)
                    if future is not None and not future.done():
                        future.set_result(event)

    async def send(self, cmd: Command, wait_ack: bool = True) -> asyncio.Future[Outcome]:
        """Publish a command; the returned future resolves with its outcome.

        With `wait_ack=False` the command is only queued in the producer (for load generators
        that publish thousands a second); delivery errors then surface on `flush()`.
        """
        future = self.waiting.get(cmd.message_id)
        if future is None or future.done():
            future = asyncio.get_running_loop().create_future()
            self.waiting[cmd.message_id] = future
        headers = [(k, v.encode()) for k, v in header_fields(cmd).items()]
        delivery = await self.producer.send(
            BOOKING_COMMANDS.name,
            cmd.model_dump_json().encode(),
            key=command_key(cmd).encode(),
            headers=headers,
        )
        if wait_ack:
            await delivery
        return future

    async def flush(self) -> None:
        await self.producer.flush()

    async def request(self, cmd: Command, timeout: float) -> Outcome | None:
        """Publish and wait for the outcome; None when it has not come within the timeout."""
        future = await self.send(cmd)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return None
