"""One line from a Nagios-family engine, whichever format it is in, as a sitelog payload.

This module is responsible for telling the two line formats apart: external commands
(``[timestamp] COMMAND;...``, e.g. from OCSP/OCHP commands or the command file) and
perfdata file lines (``DATATYPE::...``). Skipping blank lines is the caller's business.
"""

from __future__ import annotations

from engine.poller.nagios import command_payloads, external_commands, perfdata_file
from engine.poller.nagios.command_payloads import NagiosIds
from schemas.errors import InvalidEventError
from schemas.payload import Payload
from schemas.types import MICROS_PER_SECOND


def parse_line(line: str, *, origin: str, ids: NagiosIds) -> tuple[Payload, int]:
    """The payload of ``line`` and when it happened (µs), or InvalidEventError saying why not.

    The time is the command's ``[timestamp]`` or the perfdata line's ``TIMET``.
    ``ids`` numbers the downtimes and comments of ``origin``'s engine (see NagiosIds).
    """
    if line.startswith("["):
        command = external_commands.parse_command(line)
        payload = command_payloads.to_payload(command, origin=origin, ids=ids)
        return payload, command.timestamp * MICROS_PER_SECOND
    if line.startswith("DATATYPE::"):
        parsed = perfdata_file.parse_perfdata_line(line)
        return perfdata_file.to_payload(parsed, origin=origin), parsed.timet * MICROS_PER_SECOND
    raise InvalidEventError(
        "neither an external command ([timestamp] COMMAND;...) nor a perfdata line (DATATYPE::...)"
    )
