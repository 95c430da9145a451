"""The grid behind /api/v1/tenants/{tenant}/…: REST in front of the grid gRPC service."""
