"""A running node: its configuration (``config``) and API tokens (``tokens``), the
projector that follows the site logs into PostgreSQL (``projector``), the write path
that turns operator commands into events (``write_path``, checked by ``pool_rules``),
and on central the default pools (``default_pools``). :class:`Node` joins them.
"""

from engine.node.config import CENTRAL, NodeConfig
from engine.node.node import Node
from engine.node.projector import Projector, SiteStatus
from engine.node.tokens import ApiToken, TokenBook
from engine.node.write_path import WritePath

__all__ = [
    "CENTRAL",
    "ApiToken",
    "Node",
    "NodeConfig",
    "Projector",
    "SiteStatus",
    "TokenBook",
    "WritePath",
]
