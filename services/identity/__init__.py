"""The identity service: staff accounts, sessions and the signing of short-lived tokens."""
