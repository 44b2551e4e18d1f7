"""Everything of sitelog that runs, one subpackage per role: site logs (``log``), the poller
side (``poller``), nodes (``node``), their HTTP API (``api``), pool members (``member``),
administration of projections (``recovery``), development aids (``dev``) and the CLI
(``cli`` and ``commands``). It imports ``projections`` and ``schemas``, never the reverse."""
