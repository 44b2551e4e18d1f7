"""A running node: its configuration (``config``) and API tokens (``tokens``), the
projector that follows the site logs into PostgreSQL (``projector``), the write path
that turns operator commands into events (``write_path``, checked by ``pool_rules``;
each operator command declared once in ``operator_commands``), and on central the
default pools (``default_pools``). :class:`Node` joins them.
"""

from engine.node.config import CENTRAL, NodeConfig
from engine.node.node import Node
from engine.node.operator_commands import OPERATOR_COMMANDS, OperatorCommand
from engine.node.projector import Projector
from engine.node.site_status import DatabaseState, DatabaseStatus, SiteState, SiteStatus
from engine.node.tokens import ApiToken, TokenBook
from engine.node.write_path import Prepared, WritePath

__all__ = [
    "CENTRAL",
    "OPERATOR_COMMANDS",
    "ApiToken",
    "DatabaseState",
    "DatabaseStatus",
    "Node",
    "NodeConfig",
    "OperatorCommand",
    "Prepared",
    "Projector",
    "SiteState",
    "SiteStatus",
    "TokenBook",
    "WritePath",
]
