"""`python -m services.events`: run the events service;
`python -m services.events report participants --fiscal-year 2023`: print the participants
report."""

import sys

from services.events.app import build_spec
from services.runtime.service import run

if __name__ == "__main__":
    if sys.argv[1:2] == ["report"]:
        from services.events.report import main

        sys.exit(main(sys.argv[2:]))
    run(build_spec())
