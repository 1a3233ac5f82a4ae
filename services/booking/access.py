"""Who may do what with the booking service (ARCHITECTURE.md, "Security"; DOMAIN.md, "Staff").

Commands (checked by the runtime before a handler runs, against the caller the command's token
proves; what a rule cannot know, which organisation owns what, the handler checks with the same
caller: an organisation books, changes and cancels only in its own name):
- anyone asks for an organisation to be registered (the public form); the desk registers it
  after the interview, naming the request, or closes the request;
- the desk (reception, coordinators) registers, renews, books and cancels for anyone;
- coordinators suspend and reinstate organisations and close days;
- an organisation books, changes and cancels in its own name; program staff and the events
  service book venues; the Lab's kiosk (or reception) checks people in and out, and the kiosk
  books for the same day (DOMAIN.md, "Clients of the system").

Reads over HTTP (personal data only to its owner and the staff who need it):
- Availability and the Lab's occupancy are public: free or taken, head counts and seats, nobody's
  name, purpose or numbers.
- Reservations (which organisation, its purpose, its attendees) belong to the organisation
  holding them. Among the staff, those who handle bookings read them: reception (the desk books,
  changes and checks in), coordinators and the chief coordinator (they work with the
  organisations and place collaboration events in Space A/B), the auditor (reads, changes
  nothing) and the administrator. Program staff and newsletter editors work elsewhere: they see
  availability like anyone, not other people's bookings.
- The occupancy report holds figures only: any staff member reads it.
- The kiosk (and the staff who handle bookings) reads the names of the organisations in good
  standing, to choose one at check-in, and the Lab's open usage slips, to check one out: names,
  kinds and head counts, no contact.

The lock of a route admits the kinds of caller (`RESERVATION_READERS`); which organisation's
reservations a caller may read is decided with what the route read (`may_read_reservations_of`).
"""

from __future__ import annotations

from uuid import UUID

from contracts.identity import PrincipalKind, Role
from services.runtime.identity import Caller, anyone, either, kinds, service_account, staff

EVENTS_SERVICE = "events"


events_service = service_account(EVENTS_SERVICE)
"""The events service booking and cancelling its sessions' venues."""


DESK = staff(Role.RECEPTION, Role.COORDINATOR, Role.CHIEF_COORDINATOR)
"""Staff at the counter: registration, renewal, bookings and cancellations for anyone."""

STANDING = staff(Role.COORDINATOR, Role.CHIEF_COORDINATOR)
"""Suspending and reinstating an organisation, closing days: coordinators decide."""

REGISTER = DESK
REQUEST_REGISTRATION = anyone
"""The public form: anyone may ask; the request waits for the interview, and only staff
register. One request waits per address."""
CLOSE_REQUEST = DESK
UPDATE = either(DESK, kinds(PrincipalKind.ORGANISATION))
RENEW = DESK
SUSPEND = STANDING
REINSTATE = STANDING
CANCEL = either(DESK, staff(Role.PROGRAM_STAFF), kinds(PrincipalKind.ORGANISATION), events_service)
REQUEST = either(CANCEL, kinds(PrincipalKind.DEVICE))  # the kiosk: today only (domain)
BLACKOUT = STANDING
LAB = either(staff(Role.RECEPTION), kinds(PrincipalKind.DEVICE))
"""The Lab's check-in and check-out: the kiosk at the Lab reception, or reception staff."""


# --- reads over HTTP ---------------------------------------------------------------------------

RESERVATION_STAFF = staff(Role.RECEPTION, Role.COORDINATOR, Role.CHIEF_COORDINATOR, Role.AUDITOR)
RESERVATION_READERS = either(kinds(PrincipalKind.ORGANISATION), RESERVATION_STAFF)
DAY_SHEET_READERS = RESERVATION_STAFF
"""Every organisation's reservations of some days at once (the staff's day and week): the staff
who handle bookings; an organisation reads its own list only."""
REPORT_READERS = kinds(PrincipalKind.STAFF)
ORGANISATION_LIST_READERS = either(kinds(PrincipalKind.DEVICE), RESERVATION_STAFF)
"""The names of the organisations in good standing (no contact): the kiosk offers them to choose
from at check-in, and the staff who handle bookings pick from them."""
DIRECTORY_READERS = RESERVATION_STAFF
"""Every organisation with its standing and contact (the staff's directory, where they renew,
suspend and reinstate): the staff who handle bookings."""
DAY_READERS = RESERVATION_STAFF
"""The blackouts with their reasons and the closing times decided: the same staff."""
REQUEST_READERS = RESERVATION_STAFF
"""The registration requests waiting for their interview, with their contacts."""
VISIT_READERS = either(LAB, RESERVATION_STAFF)
"""The Lab's open usage slips, with the organisation's name and head count: the kiosk and
reception check people out from them."""


def may_read_reservations_of(caller: Caller, organisation_id: UUID) -> bool:
    """The organisation itself, or staff who handle bookings."""
    return caller.is_organisation(organisation_id) or RESERVATION_STAFF(caller)
