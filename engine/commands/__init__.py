"""Sub-commands of the ``sitelog`` CLI: argparse wiring only, no library logic.

Each module has ``register(subparsers)`` and a ``run(args) -> int`` it sets as default;
what a command does lives in the package of its role (``engine.node``,
``engine.poller``, ``engine.recovery``, ...).
"""

__all__: list[str] = []
