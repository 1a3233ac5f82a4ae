"""Consultation service: cases from intake to closing, assignment, referrals, statistics
(ARCHITECTURE.md; DOMAIN.md, "Consultations")."""
