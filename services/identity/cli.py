"""`python -m services.identity create-staff`: a staff account made on the server itself.

How the first administrator comes to be: nobody can sign in yet, so no administrator can create
accounts over HTTP; whoever has a shell on the server (and so DATABASE_URL) makes one here. The
password is read from stdin when it is not a terminal (one line), or asked twice at a prompt
that does not echo it; never from the command line, where `ps` and the shell's history would
show it.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from contracts.identity import Role
from services.identity import passwords, store
from services.identity.domain import StaffAccount, normalise_username
from services.runtime.db import create_pool, ensure_database, migrate
from services.runtime.settings import RuntimeSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m services.identity create-staff",
                                description="Make a staff account; the password is read from "
                                            "stdin or asked at a prompt.")  # fmt: skip
    p.add_argument("--username", required=True)
    p.add_argument("--role", action="append", required=True, choices=[r.value for r in Role],
                   help="a role of the account; repeat for several")  # fmt: skip
    p.add_argument("--name", help="the name shown for the account (default: the username)")
    return p


def read_password(stdin: TextIO) -> str:
    if not stdin.isatty():
        return stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


async def create(account: StaffAccount, password_hash: str) -> bool:
    settings = RuntimeSettings.from_env("identity", 0)
    await ensure_database(settings.database_url)
    pool = await create_pool(settings.database_url, max_size=1)
    try:
        await migrate(pool, MIGRATIONS)
        return await store.insert_account(pool, account, password_hash, datetime.now(UTC))
    finally:
        await pool.close()


def main(argv: list[str], stdin: TextIO = sys.stdin) -> int:
    args = parser().parse_args(argv)
    username = normalise_username(args.username)
    if username is None:
        print("a username is 2 to 64 of a-z 0-9 . _ - (starting with a letter or digit)",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        password = read_password(stdin)
    except (ValueError, EOFError) as exc:
        print(f"no password: {exc}", file=sys.stderr)
        return 2
    if problem := passwords.password_problem(password, username):
        print(f"password refused: {problem}", file=sys.stderr)
        return 2
    account = StaffAccount(username, args.name or username, frozenset(Role(r) for r in args.role))
    if not asyncio.run(create(account, passwords.hash_password(password))):
        print(f"a staff account {username} exists already", file=sys.stderr)
        return 1
    print(f"created staff account {username} ({', '.join(sorted(args.role))})")
    return 0
