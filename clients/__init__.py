"""Clients of the services: they publish commands to Kafka and read outcomes back."""
