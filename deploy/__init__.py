"""Deployment: the local stack, Prometheus and Grafana configuration."""
