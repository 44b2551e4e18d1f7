"""Sub-commands of the ``sitelog`` CLI; each module has ``register(subparsers)`` and ``run(args)``."""
