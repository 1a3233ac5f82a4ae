"""Who may read what of the booking service over HTTP (ARCHITECTURE.md, Security: personal data
only to its owner and the staff who need it; DOMAIN.md, People).

- Availability and the Lab's occupancy are public: free or taken, head counts and seats, nobody's
  name, purpose or numbers.
- Reservations (which organisation, its purpose, its attendees) belong to the organisation
  holding them. Among the staff, those who handle bookings read them: reception (the desk books,
  changes and checks in), coordinators and the chief coordinator (they work with the
  organisations and place collaboration events in Space A/B), the auditor (reads, changes
  nothing) and the administrator. Program staff and newsletter editors work elsewhere: they see
  availability like anyone, not other people's bookings.
- The occupancy report holds figures only: any staff member reads it.

The lock of a route admits the kinds of caller (`RESERVATION_READERS`); which organisation's
reservations a caller may read is decided with what the route read (`may_read_reservations_of`).
"""

from __future__ import annotations

from uuid import UUID

from contracts.identity import PrincipalKind, Role
from services.runtime.identity import Caller, either, kinds, staff

RESERVATION_STAFF = staff(Role.RECEPTION, Role.COORDINATOR, Role.CHIEF_COORDINATOR, Role.AUDITOR)
RESERVATION_READERS = either(kinds(PrincipalKind.ORGANISATION), RESERVATION_STAFF)
REPORT_READERS = kinds(PrincipalKind.STAFF)


def may_read_reservations_of(caller: Caller, organisation_id: UUID) -> bool:
    """The organisation itself, or staff who handle bookings."""
    return is_organisation(caller, organisation_id) or RESERVATION_STAFF(caller)


def is_organisation(caller: Caller, organisation_id: UUID) -> bool:
    """The caller is that organisation: its token's subject is the organisation's id, however
    the id is written (capitals or not)."""
    if caller.kind is not PrincipalKind.ORGANISATION:
        return False
    try:
        return UUID(caller.subject) == organisation_id
    except ValueError:
        return False
