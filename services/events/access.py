"""Who may send what to the events service (ARCHITECTURE.md, "Security"; DOMAIN.md, "Staff").

Checked by the runtime before a handler runs, against the caller the command's token proves;
what a rule cannot know (whose registration it is) the handler checks with the same caller:
- program staff plan, publish, change and cancel programs and sessions (an administrator may
  do what any role may);
- anyone may ask for a registration: the web client sends it for a citizen, who proves nothing
  but an e-mail address, and the answer goes to that address;
- a registration is cancelled, and an offer answered, by whoever holds the signed link of the
  registrant's e-mail (`services/events/links.py`), by the citizen signed in with the
  registration's address, or by program staff: the rule admits anyone, the handler decides;
- check-in: the kiosk at the reception, or staff at the door (program staff, reception);
- booking's events are believed as they come: only booking may write `booking.events`.
"""

from __future__ import annotations

from contracts.identity import PrincipalKind, Role
from services.runtime.identity import Caller, anyone, either, kinds, staff

PROGRAM_STAFF = staff(Role.PROGRAM_STAFF)
PLAN = PROGRAM_STAFF
REGISTER = anyone
REGISTRANT = anyone  # the handler checks the link, the citizen, or the staff member
CHECK_IN = either(kinds(PrincipalKind.DEVICE), staff(Role.PROGRAM_STAFF, Role.RECEPTION))
BOOKING_FACTS = anyone


def acts_for_registrant(caller: Caller, email: str) -> bool:
    """A citizen signed in with the registration's own e-mail address, or program staff."""
    if PROGRAM_STAFF(caller):
        return True
    return caller.kind is PrincipalKind.CITIZEN and caller.subject.lower() == email.lower()


# --- reads over HTTP ---------------------------------------------------------------------------

REPORT_READERS = kinds(PrincipalKind.STAFF)  # figures only: any staff member
OWN_REGISTRATION_READERS = kinds(PrincipalKind.CITIZEN)
"""A citizen signed in with a mailed link reads the registrations of that address."""
PLANNING_READERS = PROGRAM_STAFF
"""Every program in every state, and a program's registrations with names, addresses and
check-in codes: program staff, who plan them and check people in at the door."""
