"""`python -m services.booking`: run the booking service;
`python -m services.booking report occupancy --fiscal-year 2024`: print the occupancy report."""

import sys

from services.booking.app import build_spec
from services.runtime.service import run

if __name__ == "__main__":
    if sys.argv[1:2] == ["report"]:
        from services.booking.report import main

        sys.exit(main(sys.argv[2:]))
    run(build_spec())
