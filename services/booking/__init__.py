"""Booking service: organisations, spaces, reservations, opening hours (ARCHITECTURE.md)."""
