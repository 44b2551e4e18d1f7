"""Nagios-family engine formats: external command lines and perfdata files."""
