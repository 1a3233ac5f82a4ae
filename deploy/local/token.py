"""Print a development token, to try commands by hand on the local stack.

    python -m deploy.local.token staff reception coordinator
    python -m deploy.local.token organisation <organisation_id>
    python -m deploy.local.token device kiosk-lab

Signed with the development key pair `make up` made under .local/secrets/ (the same the services
on this machine trust); it lives 15 minutes. Outside development, tokens come from the identity
service's sign-in, never from here: there is no private key to sign with.
"""

from __future__ import annotations

import argparse
import sys

from contracts.identity import MAX_TOKEN_LIFETIME_S, PrincipalKind, Role
from services.runtime.identity import DEV_KEYS_DIR, PEOPLE_ISSUER, Signer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.local.token",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=[PrincipalKind.STAFF, PrincipalKind.ORGANISATION,
                                         PrincipalKind.DEVICE, PrincipalKind.CITIZEN])  # fmt: skip
    parser.add_argument("rest", nargs="*", help="staff: roles; others: the subject")
    args = parser.parse_args(argv)
    key = DEV_KEYS_DIR / f"{PEOPLE_ISSUER}.key"
    if not key.exists():
        print(f"no development key at {key}: run `make up` first", file=sys.stderr)
        return 1
    kind = PrincipalKind(args.kind)
    if kind is PrincipalKind.STAFF:
        try:
            roles = [Role(r) for r in args.rest or ["reception"]]
        except ValueError:
            print(f"roles are: {', '.join(r.value for r in Role)}", file=sys.stderr)
            return 2
        subject, name = "dev-staff", "Development Staff"
    else:
        if len(args.rest) != 1:
            print("give the subject: an organisation id, a device name or an address",
                  file=sys.stderr)  # fmt: skip
            return 2
        roles, subject, name = [], args.rest[0], None
    signer = Signer.load(PEOPLE_ISSUER, key)
    print(signer.issue(kind, subject, roles=roles, name=name, lifetime_s=MAX_TOKEN_LIFETIME_S))
    return 0


if __name__ == "__main__":
    sys.exit(main())
