"""The events service: programs, sessions, seat frames, registrations, waitlists, attendance."""
