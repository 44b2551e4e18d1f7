"""SQL twins of ``projections.asof``: the as-of rules as SQL, over the rows alone.

Each rule is written once, as an expression over row aliases: ``acknowledged_sql``
over an acknowledgement ``a`` and its subject's state ``st``, ``in_downtime_sql``
over a subject's host and service. The schema's functions ``acknowledged(host,
service, at)`` and ``in_downtime(host, service, at)`` wrap them (``service`` is ''
for a host), and list queries inline the same expressions over their own rows,
because a SQL function with sub-selects is not inlined by PostgreSQL and costs tens
of microseconds per call. The tests check the functions agree with the Python twins
on random histories.
"""

from __future__ import annotations

from psycopg import sql

#: An acknowledgement row ``{a}`` acknowledges its subject, whose state row is ``{st}``,
#: at ``{at}``. NULL when there is no acknowledgement row (wrap in coalesce).
_ACKNOWLEDGED = """({a}.set_version IS NOT NULL
       AND ({a}.removed_version IS NULL OR {a}.removed_version < {a}.set_version)
       AND ({a}.expire_time IS NULL OR {a}.expire_time > {at})
       AND {st}.state <> 0 AND {st}.problem_since_version IS NOT NULL
       AND CASE WHEN {a}.sticky THEN {st}.problem_since_version < {a}.set_version
                ELSE {st}.change_version < {a}.set_version END)"""

#: Some downtime covers the subject ({host}, {service}) at {at}.
_IN_DOWNTIME = """EXISTS (
    SELECT 1 FROM {s}.downtimes d
    WHERE d.host_name = {host}
      AND (d.service_description = {service}
           OR ({service} <> '' AND d.service_description = '' AND d.with_services))
      AND d.cancelled_version IS NULL AND d.version IS NOT NULL
      AND CASE
            WHEN d.fixed THEN d.start_time <= {at} AND {at} < d.end_time
            ELSE coalesce((
              SELECT t0 <= {at} AND {at} < t0 + d.duration
              FROM (SELECT {s}.flexible_start(d.host_name, d.service_description,
                                              d.start_time, d.end_time) AS t0) began
              WHERE t0 IS NOT NULL), false)
          END)"""

_FUNCTIONS = """
CREATE OR REPLACE FUNCTION {s}.acknowledged(host text, service text, at bigint)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT coalesce((
    SELECT {acknowledged}
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
  SELECT {in_downtime}
$$;
"""


def acknowledged_sql(at: sql.Composable, a: str = "a", st: str = "st") -> sql.Composed:
    """The acknowledged rule over the row aliases ``a`` (acknowledgement) and ``st`` (state)."""
    return sql.SQL(_ACKNOWLEDGED).format(at=at, a=sql.Identifier(a), st=sql.Identifier(st))


def in_downtime_sql(
    schema: str, host: sql.Composable, service: sql.Composable, at: sql.Composable
) -> sql.Composed:
    """The in-downtime rule for the subject (``host``, ``service``) at ``at``."""
    return sql.SQL(_IN_DOWNTIME).format(s=sql.Identifier(schema), host=host, service=service, at=at)


def asof_functions(schema: str) -> sql.Composed:
    """The statements creating the as-of functions in ``schema``."""
    return sql.SQL(_FUNCTIONS).format(
        s=sql.Identifier(schema),
        acknowledged=acknowledged_sql(sql.SQL("at")),
        in_downtime=in_downtime_sql(schema, sql.SQL("host"), sql.SQL("service"), sql.SQL("at")),
    )
