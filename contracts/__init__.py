"""The public contract: every message that crosses a service boundary, and the topics it travels on.

Pure data, no I/O. Third-party web and kiosk clients code against these names, so they only grow
compatibly: a new optional field or a new message type, never a rename.
"""
