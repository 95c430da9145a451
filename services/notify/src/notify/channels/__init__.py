"""Outbound channels behind one small interface (base.py): e-mail, group robot, SMS; and the
in-app inbox, which is written in the dispatcher's own transaction."""
