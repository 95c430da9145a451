"""The tenant registry: district → street → community, and onboarding."""
