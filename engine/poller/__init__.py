"""The poller side: what produces events into a site log.

The producer library and its durable spool (``producer``, ``spool``), line sources
that follow files, FIFOs and stdin (``line_source``), Nagios line formats
(``nagios/``), ingesting them (``ingest``), events as JSON lines (``json_lines``), and
the load generator (``simulation``).
"""

from engine.poller.ingest import IngestState, ingest
from engine.poller.json_lines import produce_lines
from engine.poller.line_source import LineSource
from engine.poller.producer import Producer, ProducerStats, SpoolSettings, WhenFull
from engine.poller.simulation import Traffic
from engine.poller.spool import Spool

__all__ = [
    "IngestState",
    "LineSource",
    "Producer",
    "ProducerStats",
    "Spool",
    "SpoolSettings",
    "Traffic",
    "WhenFull",
    "ingest",
    "produce_lines",
]
