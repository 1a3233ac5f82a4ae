"""`python -m services.identity`: run the identity service;
`python -m services.identity create-staff --username NAME --role administrator`: make a staff
account (the first administrator) on the server's command line, the password from stdin or a
prompt."""

import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["create-staff"]:
        from services.identity.cli import main

        sys.exit(main(sys.argv[2:]))
    from services.identity.app import build_spec
    from services.runtime.service import run

    run(build_spec())
