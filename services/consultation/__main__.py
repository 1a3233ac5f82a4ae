"""`python -m services.consultation`: run the consultation service;
`python -m services.consultation report topics --fiscal-year 2020`: print the topic table;
`python -m services.consultation reseal`: seal stored values again with the current key."""

import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["report"]:
        from services.consultation.report import main

        sys.exit(main(sys.argv[2:]))
    if sys.argv[1:2] == ["reseal"]:
        from services.consultation.resealing import main as reseal

        sys.exit(reseal(sys.argv[2:]))
    from services.consultation.app import build_spec
    from services.runtime.service import run

    run(build_spec())
