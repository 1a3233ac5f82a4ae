"""What every service shares, written once so that each service's own folder holds only its
domain (ARCHITECTURE.md). One idea per module:

service.py        the app factory: broker, subscribers, HTTP, background tasks, shutdown
consumer.py       a batch of records: strict parsing, routing (Routes), inbox, dead letters
kafka_records.py  records the Kafka client cannot decode, read leniently instead of stalling
inbox.py          consumed message ids, their answers and what they asked (retries, reuse)
outbox.py         outgoing messages in the state's transaction, and the relay to Kafka
schedule.py       the durable schedule (time-based work that survives restarts)
supervisor.py     supervised background tasks and /readyz
periodic.py       work every N seconds that survives passing faults
probes.py         whether Kafka answers
kafka_auth.py     the service's Kafka login, and the arguments of every Kafka connection
retention.py      tables that stop growing
clock.py          the service's (shiftable) clock
collector.py      the garbage collector set for a long-running process
errors.py         what is transient, and error texts that are safe to store and log
http.py           /metrics, /healthz, /readyz, one error body, request guards
http_auth.py      every route public or locked: bearer proof, 401/403, the OpenAPI scheme
logs.py           JSON log lines with the correlation id, repeated lines capped
metrics.py        the Prometheus metrics every service exposes
db.py, topics.py, settings.py, secrets.py   database and migrations, topics, settings, secrets
"""
