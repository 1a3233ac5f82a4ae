"""Who may send each booking command (DOMAIN.md, "Staff"; ARCHITECTURE.md, "Security").

Checked by the runtime before a handler runs, against the caller the command's token proves.
What a rule here cannot know (which organisation owns what) the handler checks with the same
caller: an organisation books, changes and cancels only in its own name.
"""

from __future__ import annotations

from contracts.identity import PrincipalKind, Role
from services.runtime.identity import Caller, either, kinds, staff

EVENTS_SERVICE = "events"


def events_service(caller: Caller) -> bool:
    """The events service booking and cancelling its sessions' venues."""
    return caller.kind is PrincipalKind.SERVICE and caller.subject == EVENTS_SERVICE


DESK = staff(Role.RECEPTION, Role.COORDINATOR, Role.CHIEF_COORDINATOR)
"""Staff at the counter: registration, renewal, bookings and cancellations for anyone."""

STANDING = staff(Role.COORDINATOR, Role.CHIEF_COORDINATOR)
"""Suspending and reinstating an organisation, closing days: coordinators decide."""

REGISTER = DESK
UPDATE = either(DESK, kinds(PrincipalKind.ORGANISATION))
RENEW = DESK
SUSPEND = STANDING
REINSTATE = STANDING
REQUEST = either(DESK, staff(Role.PROGRAM_STAFF), kinds(PrincipalKind.ORGANISATION), events_service)
CANCEL = REQUEST
BLACKOUT = STANDING
LAB = either(staff(Role.RECEPTION), kinds(PrincipalKind.DEVICE))
"""The Lab's check-in and check-out: the kiosk at the Lab reception, or reception staff."""
