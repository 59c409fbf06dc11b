"""One statement sent with libpq's PQexecParams on Django's own PostgreSQL connection, without a
cursor: Django's and psycopg's cursors (adapting the parameters, composing the query, building a
result set) cost the counter's hot statements more CPU than the rest of a page view.

What Django's cursor does around a query is done here too: the connection is checked and opened
as for a cursor, and an error is raised as Django's, marking the connection to be checked at the
request's end. Callers inside a transaction use a cursor instead, so that Django's checks of a
broken transaction apply. Django's query log (DEBUG) does not list these statements.
"""

import select
import time

from django.db import DatabaseError


def first_value(db, statement, params, timeout=None):
    """Run ``statement`` (bytes, its parameters written $1, $2...) with ``params`` (strings) on the
    connection ``db`` and return the first column of its first row as bytes, or None if it
    returned no row. With ``timeout``, a server that has not answered within that many seconds
    has its connection closed (its answer could still come, and be read as the next query's) and
    DatabaseError is raised."""
    from psycopg import errors, pq  # loaded with Django's PostgreSQL backend already

    with db.wrap_database_errors:
        db.close_if_health_check_failed()
        db.ensure_connection()
        pgconn = db.connection.pgconn
        encoded = [param.encode() for param in params]
        if timeout is None:
            result = pgconn.exec_params(statement, encoded)
        else:
            pgconn.send_query_params(statement, encoded)
            if not _answered(pgconn, time.monotonic() + timeout):
                db.close()
                raise DatabaseError(f"the database did not answer within {timeout} s")
            result = pgconn.get_result()
            while pgconn.get_result() is not None:
                pass
        if result.status != pq.ExecStatus.TUPLES_OK:
            raise errors.error_from_result(result)
        return result.get_value(0, 0) if result.ntuples else None


def _answered(pgconn, deadline):
    """Whether the server's whole answer has arrived by ``deadline``."""
    pgconn.consume_input()
    while pgconn.is_busy():
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([pgconn.socket], [], [], left)[0]:
            return False
        pgconn.consume_input()
    return True
