"""Importing residents from the spreadsheets communities keep: the template and the reader."""
