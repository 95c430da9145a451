"""The Open311 GeoReport v2 facade at /open311/v2/{tenant}/…: the cases service as GeoReport
clients know it (services = case categories, service requests = cases)."""
