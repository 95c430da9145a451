"""Identity codes of people and enterprises, and the protection of personal data."""
