"""Kafka: the Apache Kafka broker jars on the JVM, as one KRaft node (broker and controller in
one process) or, with ``KAFKA_BROKERS=3``, a cluster of three such nodes.

Why combined nodes for the cluster: on one machine, three processes instead of six keep the
memory and start-up time of a stack small, and a quorum of three voters survives the loss of any
one node just as separate controllers would; what the cluster is for here (replication factor 3,
``min.insync.replicas=2``, a broker lost or paused under load) is the same. The single node keeps
its dynamic quorum of one (``format --standalone``); the three nodes share a static quorum
(``controller.quorum.voters``), formatted with one cluster id.

The jars are fetched once with Maven (``deploy/local/kafka/pom.xml`` pins the version) into
``.local/kafka-<version>/libs``, shared by every stack root. Each root renders its own
``server.properties`` and log4j2 configuration from the templates beside the pom, and formats
its storage once with a fresh cluster id.

No client is anonymous (ARCHITECTURE.md, "Security"): the broker takes SASL/SCRAM logins only,
and refuses whatever ``deploy/kafka_acls.py`` does not allow. The ``admin`` super user is
created with the storage (``--add-scram``), since nobody could log in to create it afterwards;
once the broker serves, ``python -m deploy.kafka_setup`` (as admin) creates or updates every
other principal's SCRAM user, creates the declared topics and applies the ACL table. The
passwords are the development passwords of ``.local/secrets/kafka/`` (shared by every root of
this checkout); the rendered ``server.properties`` holds them and is readable by its owner
only. The client listener also offers SASL/PLAIN with the same users and passwords, for Debian's
``kcat``, whose librdkafka (before 2.6.1) fails Kafka 4's SCRAM nonce check; everything of ours
uses SCRAM.
"""

from __future__ import annotations

import base64
import re
import shutil
import string
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from deploy.kafka_acls import ADMIN, principals
from deploy.local.config import REPO_ROOT, StackConfig, python_env
from deploy.local.errors import StackError, tail_text
from deploy.local.probes import port_open
from deploy.local.supervisor import Supervisor
from services.runtime.kafka_auth import DEFAULT_MECHANISM, development_password

KAFKA_DIR = Path(__file__).resolve().parents[1] / "kafka"
KAFKA_POM = KAFKA_DIR / "pom.xml"
GRACE_SECONDS = 30.0
CONTROLLER_USER = "controller"  # the controller listener's static PLAIN user (internal)
SETUP_TIMEOUT_S = 120.0


def kafka_version() -> str:
    """The Kafka version pinned in ``deploy/local/kafka/pom.xml``."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", KAFKA_POM.read_text())
    if match is None:
        raise StackError(f"no <kafka.version> in {KAFKA_POM}")
    return match.group(1).strip()


def kafka_home() -> Path:
    """The shared cache of broker jars for the pinned version: ``.local/kafka-<version>``."""
    return REPO_ROOT / ".local" / f"kafka-{kafka_version()}"


def cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (as `random-uuid`)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def render(template: Path, target: Path, **values: object) -> None:
    """Fill a ``$name`` template with ``values``."""
    text = string.Template(template.read_text()).substitute(
        {key: str(value) for key, value in values.items()}
    )
    target.write_text(text)


class KafkaNode:
    """One KRaft node of the stack: its ports, folders, configuration and process."""

    def __init__(self, config: StackConfig, supervisor: Supervisor, index: int) -> None:
        self.config, self.supervisor, self.index = config, supervisor, index
        alone = config.kafka_brokers == 1
        self.name = "kafka" if alone else f"kafka-{index + 1}"
        self.node_id = index + 1
        self.port, self.controller_port = config.kafka_node_ports(index)
        self.base = supervisor.root / self.name
        self.data = self.base / "data"
        self.log = supervisor.logs / f"{self.name}.log"
        self.out = supervisor.logs / f"{self.name}.out"

    def configure(self) -> Path:
        """Render ``server.properties`` and the log4j2 configuration under the root."""
        self.base.mkdir(parents=True, exist_ok=True)
        self.supervisor.logs.mkdir(parents=True, exist_ok=True)
        properties = self.base / "server.properties"
        properties.touch(mode=0o600)
        properties.chmod(0o600)  # it holds the admin's and the controller's passwords
        cluster = self.config.kafka_brokers > 1
        voters = ",".join(
            f"{n + 1}@127.0.0.1:{self.config.kafka_node_ports(n)[1]}"
            for n in range(self.config.kafka_brokers)
        )
        render(
            KAFKA_DIR / "server.properties.in",
            properties,
            node_id=self.node_id,
            quorum=(f"controller.quorum.voters={voters}" if cluster else
                    f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}"),
            kafka_port=self.port,
            controller_port=self.controller_port,
            data_dir=self.data,
            replication=min(self.config.kafka_brokers, 3),
            min_isr=2 if cluster else 1,
            admin_password=development_password(ADMIN),
            controller_password=development_password(CONTROLLER_USER),
            plain_users="".join(
                f' user_{name}="{development_password(name)}"' for name in principals()
            ),
        )  # fmt: skip
        log4j = self.base / "log4j2.properties"
        render(KAFKA_DIR / "log4j2.properties.in", log4j, log_file=self.log)
        return properties

    @property
    def _secured_marker(self) -> Path:
        """Present once the storage was formatted with the admin's SCRAM user."""
        return self.data / "scram-admin.ok"

    def formatted(self) -> bool:
        if not (self.data / "meta.properties").exists():
            return False
        if not self._secured_marker.exists():
            raise StackError(
                f"the Kafka storage in {self.data} predates authentication (no admin user "
                f"can log in to it): stop the stack, delete that folder (its topics are "
                f"lost, the databases are kept) and start again"
            )
        return True

    def format(self, jvm: list[str], properties: Path, cluster_id: str) -> None:
        """Format the KRaft storage with the admin's SCRAM user in it: alone, as a standalone
        quorum of one voter; in a cluster, as a voter of the static quorum."""
        shutil.rmtree(self.data, ignore_errors=True)
        admin = f"{DEFAULT_MECHANISM}=[name={ADMIN},password={development_password(ADMIN)}]"
        standalone = ["--standalone"] if self.config.kafka_brokers == 1 else []
        formatted = subprocess.run(
            [*jvm, "kafka.tools.StorageTool", "format", *standalone,
             "-t", cluster_id, "-c", str(properties), "--add-scram", admin],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if formatted.returncode != 0:
            raise StackError(
                f"formatting the storage of {self.name} failed:\n"
                + tail_text(formatted.stdout + formatted.stderr)
            )
        self._secured_marker.touch()

    def spawn(self, jvm: list[str], properties: Path) -> Callable[[], None]:
        """Start the node's process; a wait that returns once it serves."""
        self.supervisor.check_port_free(self.name, self.port)
        self.supervisor.check_port_free(f"{self.name} controller", self.controller_port)
        offset = self.log.stat().st_size if self.log.exists() else 0
        process = self.supervisor.spawn(
            self.name, [*jvm, "kafka.Kafka", str(properties)], log=self.out, cwd=self.base
        )

        def ready() -> bool:
            if not self.log.exists():
                return False
            with self.log.open("rb") as handle:
                handle.seek(offset if self.log.stat().st_size >= offset else 0)  # rolled over
                started = b"Kafka Server started" in handle.read()
            return started and port_open(self.port)

        def wait() -> None:
            self.supervisor.wait(
                self.name, ready, timeout=120, process=process, logs=[self.log, self.out]
            )

        return wait

    def stop(self) -> None:
        self.supervisor.terminate(self.name, GRACE_SECONDS)


class Kafka:
    """The stack's Kafka: one node, or a cluster of three."""

    name = "kafka"

    def __init__(self, config: StackConfig, supervisor: Supervisor) -> None:
        self.config = config
        self.supervisor = supervisor
        self.nodes = [KafkaNode(config, supervisor, n) for n in range(config.kafka_brokers)]

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    @property
    def replication(self) -> int:
        """Replicas of every topic: one per node, up to three."""
        return min(len(self.nodes), 3)

    @property
    def names(self) -> tuple[str, ...]:
        """The nodes' process names (pid files, logs): ``kafka``, or ``kafka-1`` .. ``kafka-3``."""
        return tuple(node.name for node in self.nodes)

    def _jvm(self, node: KafkaNode) -> list[str]:
        """The java command line up to the main class, with the node's configuration."""
        if not (kafka_home() / "libs.ok").exists():
            raise StackError("the Kafka jars are missing: run `python -m deploy.local install`")
        java = shutil.which("java")
        if java is None:
            raise StackError("`java` is not on PATH (Debian: apt-get install -y openjdk-17-jre)")
        log4j = node.base / "log4j2.properties"
        return [
            java, "-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{kafka_home() / 'libs'}/*",
        ]  # fmt: skip

    def start(self) -> None:
        """Format the storage once (every node with one cluster id), start the nodes that are
        not running, wait until each serves, then apply users, topics and ACLs."""
        idle = [node for node in self.nodes if self.supervisor.pid(node.name) is None]
        if not idle:
            return
        configured = [(node, self._jvm(node), node.configure()) for node in idle]
        if not all(node.formatted() for node in self.nodes):
            if len(idle) < len(self.nodes):
                raise StackError("a Kafka node is running over unformatted storage: stop them all")
            shared = cluster_id()
            for node, jvm, properties in configured:
                node.format(jvm, properties, shared)
        waits = [node.spawn(jvm, properties) for node, jvm, properties in configured]
        for wait in waits:  # the nodes of a cluster start together: each waits for a quorum
            wait()
        self.set_up()

    def start_node(self, index: int) -> None:
        """Start one stopped node again (a fault test brings a broker back)."""
        node = self.nodes[index]
        if self.supervisor.pid(node.name) is None:
            node.spawn(self._jvm(node), node.configure())()

    def stop_node(self, index: int) -> None:
        self.nodes[index].stop()

    def set_up(self) -> None:
        """Users, topics and ACLs of ``deploy/kafka_acls.py``, applied as admin. In a process of
        its own: it needs the project's Kafka client, which this package does not import."""
        done = subprocess.run(
            [sys.executable, "-m", "deploy.kafka_setup", "--bootstrap", self.bootstrap],
            env=python_env(DEVELOPMENT="1", KAFKA_USERNAME=ADMIN,
                           KAFKA_PASSWORD=development_password(ADMIN),
                           KAFKA_REPLICATION_FACTOR=str(self.replication)),
            cwd=REPO_ROOT, capture_output=True, text=True,
            timeout=SETUP_TIMEOUT_S, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise StackError("setting up Kafka's users and ACLs failed:\n" + tail_text(done.stderr))

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
