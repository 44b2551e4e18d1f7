"""Sub-commands of the ``sitelog`` CLI.

Each module has ``register(subparsers)`` and a ``run(args) -> int`` it sets as default.
"""
