"""The on-site kiosk at the Collaboration Lab reception."""
