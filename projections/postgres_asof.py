"""SQL twins of ``projections.asof``: the as-of rules as functions in the projection's schema.

``acknowledged(host, service, at)`` and ``in_downtime(host, service, at)`` answer from
the rows alone (``service`` is '' for a host), like their Python twins, so list
queries can filter on them. The tests check both twins agree on random histories.
"""

from __future__ import annotations

from psycopg import sql

_FUNCTIONS = """
CREATE OR REPLACE FUNCTION {s}.acknowledged(host text, service text, at bigint)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT coalesce((
    SELECT a.set_version IS NOT NULL
       AND (a.removed_version IS NULL OR a.removed_version < a.set_version)
       AND (a.expire_time IS NULL OR a.expire_time > at)
       AND st.state <> 0 AND st.problem_since_version IS NOT NULL
       AND CASE WHEN a.sticky THEN st.problem_since_version < a.set_version
                ELSE st.change_version < a.set_version END
    FROM {s}.acknowledgements a
    JOIN {s}.states st USING (host_name, service_description)
    WHERE a.host_name = host AND a.service_description = service), false)
$$;

CREATE OR REPLACE FUNCTION {s}.flexible_start(host text, service text, start_t bigint,
                                              end_t bigint)
RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN (SELECT h.state FROM {s}.state_history h
          WHERE h.host_name = host AND h.service_description = service
            AND h.check_time <= start_t
          ORDER BY h.check_time DESC, h.event_id DESC LIMIT 1) <> 0 THEN start_t
    ELSE (SELECT min(h.check_time) FROM {s}.state_history h
          WHERE h.host_name = host AND h.service_description = service
            AND h.check_time > start_t AND h.check_time <= end_t AND h.state <> 0)
  END
$$;

CREATE OR REPLACE FUNCTION {s}.in_downtime(host text, service text, at bigint)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT EXISTS (
    SELECT 1 FROM {s}.downtimes d
    WHERE d.host_name = host
      AND (d.service_description = service
           OR (service <> '' AND d.service_description = '' AND d.with_services))
      AND d.cancelled_version IS NULL AND d.version IS NOT NULL
      AND CASE
            WHEN d.fixed THEN d.start_time <= at AND at < d.end_time
            ELSE coalesce((
              SELECT t0 <= at AND at < t0 + d.duration
              FROM (SELECT {s}.flexible_start(d.host_name, d.service_description,
                                              d.start_time, d.end_time) AS t0) began
              WHERE t0 IS NOT NULL), false)
          END)
$$;
"""


def asof_functions(schema: str) -> sql.Composed:
    """The statements creating the as-of functions in ``schema``."""
    return sql.SQL(_FUNCTIONS).format(s=sql.Identifier(schema))
