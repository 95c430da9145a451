"""Notices and the inbox behind /api/v1/tenants/{tenant}/… and /api/v1/inbox: REST in front of the
notify gRPC service."""
