"""The gateway: Shequ's only public door (OIDC, tenant authorization, REST/OpenAPI, console)."""
