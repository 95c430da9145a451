"""Shequ platform kit: the mechanics every process shares, and no domain."""
