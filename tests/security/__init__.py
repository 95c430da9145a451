"""Security tests against the whole platform (a package, so its platform lives as long as it)."""
