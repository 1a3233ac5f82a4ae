"""The web client under 200 people at once, on a stack of its own.

    python -m tests.bench.web [--users 200] [--bookers 50] [--seconds 30] [--think 0]

Each simulated person holds a browser's cookies and comes from an address of its own (the web
believes X-Forwarded-For from the bench, on loopback, as from a reverse proxy). Most browse
what is free when: the spaces page for a day, then for its week. The bookers are organisations'
contacts signed in beforehand with the link identity mailed them (read from the SMTP sink), as
in life: each opens the booking form, posts it, and follows the redirect to the outcome page,
which waits (without blocking the server) for booking's answer. Closed loop: a person asks for
the next page when the last one came, after `--think` seconds.

Prints pages/s (all, and per kind of page), p50/p99 page time per kind, the bookings decided
(confirmed, or refused with booking's reason) and those still pending when their page gave up,
errors, and the web process's peak resident memory and CPU. Runs under `.local/bench-web`,
started and stopped here; it is not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import re
import shutil
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import uvloop

from deploy.local.stack import Stack, StackConfig
from tests.bench.booking import cpu_seconds, peak_rss_mb, percentile
from tests.bench.profile import Profile, print_top
from tests.identity_flows import links_in, path_of
from tests.support import (
    PORT_OFFSET,
    SLOT,
    TOKYO,
    ServiceProcess,
    System,
    kiosk_client,
    register,
    unique_email,
)

ROOT = Path(__file__).resolve().parents[2] / ".local" / ("bench-web" if not SLOT else
                                                        f"bench-web-{SLOT}")  # fmt: skip
WEB_PORT = 38580 + PORT_OFFSET
BOOKING_PORT = WEB_PORT + 1
IDENTITY_PORT = WEB_PORT + 3
URLS = (
    ("WEB_URL", f"http://127.0.0.1:{WEB_PORT}"),
    ("BOOKING_URL", f"http://127.0.0.1:{BOOKING_PORT}"),
    ("IDENTITY_URL", f"http://127.0.0.1:{IDENTITY_PORT}"),
)
SERVICES = (
    ServiceProcess("booking", "services.booking", BOOKING_PORT, "booking",
                   (*URLS, ("BOOKING_MAX_ACTIVE_RESERVATIONS", "100000"))),
    ServiceProcess("identity", "services.identity", IDENTITY_PORT, "identity", URLS),
    ServiceProcess("web", "clients.web", WEB_PORT, "web", URLS),
)  # fmt: skip
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
REASON = re.compile(r'data-reason="([a-z_]+)"')
WATCHED = ("web", "booking", "identity", "postgres", "kafka")
STARTS = ("09:00", "11:00", "13:00", "15:00")  # two hours each, none overlapping


@dataclass
class Figures:
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    async def get(self, http: httpx.AsyncClient, kind: str, path: str,
                  **options: object) -> httpx.Response | None:  # fmt: skip
        return await self.timed(kind, http.get(path, **options))  # type: ignore[arg-type]

    async def timed(self, kind: str, call: object) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            answer: httpx.Response = await call  # type: ignore[misc]
        except httpx.HTTPError as exc:
            self.errors[f"{kind}: {type(exc).__name__}"] += 1
            return None
        self.times[kind].append((time.perf_counter() - started) * 1000)
        self.statuses[(kind, answer.status_code)] += 1
        return answer


def person(base: str, n: int) -> httpx.AsyncClient:
    """A browser of its own, from an address of its own."""
    address = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
    return httpx.AsyncClient(base_url=base, timeout=60, follow_redirects=False,
                             headers={"X-Forwarded-For": address, "Origin": base})  # fmt: skip


async def sign_in(system: System, http: httpx.AsyncClient, email: str) -> None:
    """As an organisation's contact does: asks for a link, opens the mail, uses the link."""
    page = await http.get("/sign-in")
    csrf = CSRF.search(page.text)
    assert csrf, page.text
    sent = await http.post("/sign-in", data={"email": email, "csrf": csrf.group(1)})
    assert sent.status_code == 200, sent.text
    deadline = time.monotonic() + 60
    link = None
    while link is None and time.monotonic() < deadline:
        found = [x for m in system.mails_to(email) for x in links_in(m) if "/links/" in x]
        link = found[0] if found else None
        await asyncio.sleep(0.2)
    assert link, f"no sign-in link to {email}"
    landing = await http.get(path_of(link))
    csrf = CSRF.search(landing.text)
    assert csrf, landing.text
    used = await http.post(path_of(link), data={"csrf": csrf.group(1)})
    assert used.status_code == 303, used.text


def slots(days: int) -> list[tuple[str, date, str]]:
    """Distinct (space, day, start) from the day after tomorrow on, shuffled: the bookers
    first ask for what is free, as people who looked first do (closed days aside)."""
    first = datetime.now(TOKYO).date() + timedelta(days=2)
    found = [(space, first + timedelta(days=d), start)
             for d in range(days) for space in ("a", "b") for start in STARTS]  # fmt: skip
    random.Random(7).shuffle(found)
    return found


async def browse(http: httpx.AsyncClient, figures: Figures, until: float, think: float,
                 rng: random.Random) -> None:  # fmt: skip
    today = datetime.now(TOKYO).date()
    while time.monotonic() < until:
        day = today + timedelta(days=rng.randrange(60))
        await figures.get(http, "spaces (day)", f"/spaces?date={day.isoformat()}")
        await figures.get(http, "spaces (week)", f"/spaces?date={day.isoformat()}&view=week")
        await asyncio.sleep(think)


async def book(http: httpx.AsyncClient, figures: Figures, until: float, think: float,
               wanted: list[tuple[str, date, str]]) -> None:  # fmt: skip
    for space, day, start in itertools.cycle(wanted):  # round again: conflicts, still decided
        if time.monotonic() >= until:
            return
        form = await figures.get(http, "book form", f"/book?space={space}&date={day}&start={start}")
        csrf = CSRF.search(form.text) if form is not None else None
        if csrf is None:
            figures.errors["book form without a token"] += 1
            continue
        end = f"{int(start[:2]) + 2:02d}:00"
        posted = await figures.timed("book (post)", http.post("/book", data={
            "csrf": csrf.group(1), "space": space, "date": day.isoformat(), "start": start,
            "end": end, "attendees": "8", "purpose": "協働の打合せ",
        }))  # fmt: skip
        if posted is None or posted.status_code != 303:
            figures.errors[f"book post answered {posted and posted.status_code}"] += 1
            continue
        outcome = await figures.get(http, "outcome", posted.headers["location"])
        if outcome is not None:
            figures.outcomes[state_of(outcome)] += 1
        await asyncio.sleep(think)


def state_of(page: httpx.Response) -> str:
    """What the outcome page says (outcome.html): pending (202), confirmed with the booking's
    details, or refused with booking's reason."""
    if page.status_code == 202:
        return "pending"
    if found := REASON.search(page.text):
        return f"rejected: {found.group(1)}"
    return "confirmed" if 'class="details"' in page.text else "unknown"


async def load(args: argparse.Namespace, system: System) -> None:
    base = f"http://127.0.0.1:{WEB_PORT}"
    async with kiosk_client(system.stack.kafka_bootstrap) as client:
        emails = [unique_email() for _ in range(args.bookers)]
        for email in emails:
            await register(client, email)
    people = [person(base, n) for n in range(args.users)]
    try:
        await asyncio.sleep(2)  # identity learns the organisations from booking.events
        for http, email in zip(people, emails, strict=False):
            await sign_in(system, http, email)
        print(f"{args.bookers} organisations signed in through the web; {args.users} people"
              f" for {args.seconds:.0f} s (think time {args.think} s)")  # fmt: skip
        figures = Figures()
        wanted = slots(90)
        per_booker = len(wanted) // max(args.bookers, 1)
        web_pid = system.stack.pid("web")
        cpu_before = {name: cpu_seconds(system.stack.pid(name)) for name in WATCHED}
        started = time.monotonic()
        until = started + args.seconds
        rng = random.Random(1)
        profile = None
        if args.profile and web_pid is not None:
            profile = Profile(web_pid, ROOT / "web.profile.txt", min(args.seconds, 20))
            await profile.start()
        await asyncio.gather(*(
            book(http, figures, until, args.think, wanted[n * per_booker:(n + 1) * per_booker])
            if n < args.bookers else browse(http, figures, until, args.think, rng)
            for n, http in enumerate(people)
        ))  # fmt: skip
        elapsed = time.monotonic() - started
        cores = {name: (cpu_seconds(system.stack.pid(name)) - cpu_before[name]) / elapsed
                 for name in WATCHED}  # fmt: skip
        report(figures, elapsed, cores, peak_rss_mb(web_pid))
        if profile is not None:
            await profile.finish()
            print_top(profile.out, "the web client under load")
    finally:
        await asyncio.gather(*(http.aclose() for http in people))


def report(figures: Figures, elapsed: float, cores: dict[str, float], web_rss: float) -> None:
    pages = sum(len(t) for t in figures.times.values())
    print(f"\n{'page':>16} {'pages':>7} {'pages/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for kind, times in sorted(figures.times.items()):
        print(f"{kind:>16} {len(times):>7} {len(times) / elapsed:>8.1f}"
              f" {statistics.median(times):>8.1f} {percentile(times, 0.99):>8.1f}")  # fmt: skip
    every = [t for times in figures.times.values() for t in times]
    print(f"{'all':>16} {pages:>7} {pages / elapsed:>8.1f} {statistics.median(every):>8.1f}"
          f" {percentile(every, 0.99):>8.1f}")  # fmt: skip
    statuses = ", ".join(f"{k} {s}: {n}" for (k, s), n in sorted(figures.statuses.items()))
    print(f"\nstatuses: {statuses}")
    refused = {k.partition(": ")[2]: n for k, n in figures.outcomes.items()
               if k.startswith("rejected")}  # fmt: skip
    decided = figures.outcomes["confirmed"] + sum(refused.values())
    print(f"bookings decided: {decided} ({figures.outcomes['confirmed']} confirmed,"
          f" {sum(refused.values())} refused with booking's reason: {refused or 'none'}),"
          f" {figures.outcomes['pending']} still pending when their page gave up,"
          f" {figures.outcomes['unknown']} unreadable")  # fmt: skip
    print(f"errors: {dict(figures.errors) or 'none'}")
    print("cores used: " + ", ".join(f"{name} {used:.2f}" for name, used in cores.items()))
    print(f"web: peak RSS {web_rss:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--bookers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--think", type=float, default=0.0)
    parser.add_argument("--profile", action="store_true", help="sample the web with py-spy")
    args = parser.parse_args()
    shutil.rmtree(ROOT, ignore_errors=True)
    stack = Stack(StackConfig(root=ROOT, kafka_port=39792 + PORT_OFFSET,
                              postgres_port=36132 + PORT_OFFSET, smtp_port=4226 + PORT_OFFSET,
                              prometheus_port=39890 + PORT_OFFSET))  # fmt: skip
    stack.install()
    system = System(stack, SERVICES)
    try:
        stack.start_infrastructure(prometheus=False)
        system.start_all()
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(load(args, system))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
