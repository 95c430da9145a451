"""Cases behind /api/v1/tenants/{tenant}/…: REST in front of the cases gRPC service."""
