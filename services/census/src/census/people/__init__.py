"""People: households and residents, with their personal data protected."""
