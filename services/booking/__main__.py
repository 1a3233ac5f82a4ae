"""`python -m services.booking`: run the booking service."""

from services.booking.app import build_spec
from services.runtime.service import run

if __name__ == "__main__":
    run(build_spec())
