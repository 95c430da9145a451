"""The census behind /api/v1/tenants/{tenant}/…: REST in front of the census gRPC service."""
