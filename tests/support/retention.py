"""A retention policy that keeps everything, for tests whose events are dated years ago.

The simulation (``engine.poller.simulation``) dates its results from November 2023, so a
node with the default retention (raw points 8 days, ``docs/retention.md``) would drop
their points, and a test comparing the node with a clean fold would compare two
different things. Tests about retention itself use policies of their own.
"""

from __future__ import annotations

from projections.retention import KEYS, RetentionPolicy

KEEP_ALL = RetentionPolicy(**dict.fromkeys(KEYS))
#: The same, as the ``[retention]`` table of a node's TOML file.
KEEP_ALL_TOML = "[retention]\n" + "".join(f'{key} = "forever"\n' for key in KEYS)
