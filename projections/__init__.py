"""The projections: the pure fold of events into rows (``fold`` and its handlers), the as-of
rules, the digest, and the PostgreSQL sinks. Imports ``schemas`` only; psycopg only in the
``postgres*`` modules."""
