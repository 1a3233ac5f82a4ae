"""The embedded local stack (Kafka, PostgreSQL, Prometheus, SMTP sink) without containers."""

from deploy.local.stack import Stack, StackConfig, StackError

__all__ = ["Stack", "StackConfig", "StackError"]
