"""The audit log of administrative actions: the gateway's own entries and the merged view."""
