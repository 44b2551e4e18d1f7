"""Nagios-family line formats, pure parsers and formatters (no I/O): external commands
(``external_commands``, their payloads in ``command_payloads``), perfdata file lines
(``perfdata_file``) and any line of either kind (``lines``)."""

__all__: list[str] = []
