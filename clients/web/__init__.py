"""The web client: the center's public and staff pages (clients/web/app.py)."""
