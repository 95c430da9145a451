"""shequctl: onboard tenants, import census files, create members and operate the platform's
outboxes, consumers and projections, through the gateway's REST API with a token."""
