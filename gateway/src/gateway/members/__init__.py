"""Members of a tenant: staff, grid workers and resident accounts, with their role there."""
