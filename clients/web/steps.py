"""A staff member's or a person's step, sent to a service as its command with their token, and
its answer awaited here a few seconds: the back-office pages show the outcome at once, or say
that it is still being decided."""

from __future__ import annotations

from typing import Any

from clients.commands import CommandsUnavailable
from clients.web.app import Commands
from clients.web.reading import Unavailable
from contracts.envelope import Message

ANSWER_WAIT_S = 8.0
NOT_SENT = (Unavailable, CommandsUnavailable)
"""What a page answers 'not sent, try again' for: Kafka or the service away, or a refusal. Any
other error is a bug and is raised (logged, 500), not shown as a passing fault."""


async def answer_to(sender: Commands | None, ready: bool, command: Message, token: str) -> Any:
    """The service's answer (None: not decided yet); Unavailable when the step could not be
    sent or its answer not read."""
    if sender is None or not ready:
        raise Unavailable("not connected to Kafka yet")
    try:
        await sender.publish(command, token)
        return await sender.answer(command.message_id, token, ANSWER_WAIT_S)
    except CommandsUnavailable as error:
        raise Unavailable(type(error).__name__) from None
