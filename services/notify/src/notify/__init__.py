"""Notify: notices to residents and staff over in-app, e-mail, webhook and SMS channels."""
