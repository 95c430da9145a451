"""Organisations of a community: owners' committees, property companies, volunteer teams,
party branches, and the complexes each one serves."""
