"""`python -m services.consultation`: run the consultation service;
`python -m services.consultation report topics --fiscal-year 2020`: print the topic table."""

import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["report"]:
        from services.consultation.report import main

        sys.exit(main(sys.argv[2:]))
    from services.consultation.app import build_spec
    from services.runtime.service import run

    run(build_spec())
