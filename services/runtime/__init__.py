"""What every service shares: settings, database, outbox, inbox, dead letters, metrics, HTTP, logs.

Written once here so that each service's own folder holds only its domain (ARCHITECTURE.md).
"""
