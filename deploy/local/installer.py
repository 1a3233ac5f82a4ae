"""Makes every component runnable on a fresh Debian machine, and is fast when that is done.

Kafka's jars come from Maven (a JDK and Maven must be there: we say what to install otherwise);
PostgreSQL with btree_gist (for the exclusion constraints), Prometheus and kcat (a second Kafka
client, to try the topics as an outsider would) come from Debian's packages, installed with
apt-get when we are root and named in the error otherwise. The browser tests of the web client
add Debian's chromium and npm, and axe-core from npm (``install_browser_tools``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from deploy.local.components.kafka import KAFKA_POM, kafka_home
from deploy.local.components.postgres import is_root, postgres_bindir
from deploy.local.components.prometheus import prometheus_binary
from deploy.local.errors import StackError, tail_text


def apt_install(*packages: str) -> None:
    """Install Debian packages (we must be root); raise with the command to run otherwise."""
    command = f"apt-get install -y {' '.join(packages)}"
    if not is_root() or shutil.which("apt-get") is None:
        raise StackError(f"missing {', '.join(packages)}: install them with `sudo {command}`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
    ):
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise StackError(
                f"`{' '.join(args)}` failed ({done.returncode}); install {', '.join(packages)} "
                f"by hand with `{command}`:\n{tail_text(done.stdout + done.stderr)}"
            )


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock across processes: two stacks installing at once fetch the jars once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def require_jvm_tools() -> None:
    for tool, package in (("java", "openjdk-17-jre-headless"), ("mvn", "maven")):
        if shutil.which(tool) is None:
            raise StackError(
                f"`{tool}` is not on PATH: the Kafka broker needs Java 17+ and Maven "
                f"(Debian: apt-get install -y {package})"
            )


def install_kafka() -> None:
    """Fetch the broker jars of the pinned version, again only when the pom changed."""
    home = kafka_home()
    libs = home / "libs"
    marker = home / "libs.ok"
    digest = hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()
    if marker.exists() and marker.read_text().strip() == digest and libs.is_dir():
        return
    with file_lock(home / ".install.lock"):
        if marker.exists() and marker.read_text().strip() == digest and libs.is_dir():
            return
        staging = home / "libs.staging"
        shutil.rmtree(staging, ignore_errors=True)
        done = subprocess.run(
            [
                "mvn", "-B", "-q", "-f", str(KAFKA_POM),
                "dependency:copy-dependencies", f"-DoutputDirectory={staging}",
            ],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
            raise StackError(
                "fetching the Kafka jars with Maven failed:\n"
                + tail_text(done.stdout + done.stderr)
            )
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        marker.write_text(digest + "\n")


def install_postgres() -> None:
    bindir = postgres_bindir()
    if bindir is None:
        apt_install("postgresql", "postgresql-contrib")
        bindir = postgres_bindir()
        if bindir is None:
            raise StackError("postgresql was installed but no /usr/lib/postgresql/*/bin")
    version = bindir.parent.name
    if not Path(f"/usr/share/postgresql/{version}/extension/btree_gist.control").exists():
        apt_install("postgresql-contrib")  # btree_gist, for the exclusion constraints


def install() -> None:
    """Make every component runnable; fast when already done (marker files)."""
    require_jvm_tools()
    install_kafka()
    install_postgres()
    if prometheus_binary() is None:
        apt_install("prometheus")
    if shutil.which("kcat") is None:
        apt_install("kcat")


CHROMIUM = Path("/usr/bin/chromium")
AXE_VERSION = "4.14.1"  # as in tests/e2e/web_tools.json


def install_browser_tools(root: Path) -> Path:
    """What the web client's browser tests need: Debian's chromium (Playwright drives it; its
    own browser downloads are not used), a Japanese font for its screenshots, and axe-core of
    the pinned version, installed with npm under ``root`` (no lock file is written). The path
    of axe.min.js."""
    if not CHROMIUM.exists():
        apt_install("chromium")
    if (
        shutil.which("fc-list")
        and not subprocess.run(
            ["fc-list", ":lang=ja"], capture_output=True, text=True, check=False
        ).stdout.strip()
    ):
        with contextlib.suppress(StackError):  # cosmetic: the tests read text, not pixels
            apt_install("fonts-noto-cjk")  # the screenshots show Japanese, not empty boxes
    if shutil.which("npm") is None:
        apt_install("npm")
    axe = root / "node_modules" / "axe-core" / "axe.min.js"
    marker = root / "axe.version"
    if axe.exists() and marker.exists() and marker.read_text().strip() == AXE_VERSION:
        return axe
    with file_lock(root / ".install.lock"):
        if axe.exists() and marker.exists() and marker.read_text().strip() == AXE_VERSION:
            return axe
        done = subprocess.run(
            ["npm", "install", "--no-package-lock", "--no-audit", "--no-fund", "--prefix",
             str(root), f"axe-core@{AXE_VERSION}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0 or not axe.exists():
            raise StackError(
                "installing axe-core with npm failed:\n" + tail_text(done.stdout + done.stderr)
            )
        marker.write_text(AXE_VERSION + "\n")
    return axe
