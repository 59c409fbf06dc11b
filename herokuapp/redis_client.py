"""One Redis connection pool per process, created on first use from REDIS_URL.

Created lazily, so that gunicorn's master (which preloads the app) never holds a connection its
forked workers would share. redis-py is imported by the Redis counter store's module, which the
app preloads only when Redis counts, so an app without Redis never loads it. Timeouts are
short: a dead Redis must not hold a request for long. The app's Lua scripts are sent by their SHA
on connections kept for them (see Script and ScriptConnections).
"""

import hashlib

from django.conf import settings

from herokuapp import process_state

CONNECT_TIMEOUT = 0.5
READ_TIMEOUT = 0.5


@process_state.cache()
def get_redis():
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    options = {
        # No retries of its own: redis-py's default sends a failed command again up to three
        # times, backing off for seconds, and the counter store decides itself what it resends.
        "retry": Retry(NoBackoff(), 0),
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": READ_TIMEOUT,
        "health_check_interval": 30,
        "client_name": "herokuapp",
    }
    if settings.REDIS_URL.startswith("rediss://"):
        # Passed only for rediss://: redis-py rejects SSL options on a plain connection.
        options["ssl_cert_reqs"] = settings.REDIS_SSL_CERT_REQS
    return redis.Redis.from_url(settings.REDIS_URL, **options)


@process_state.cache()
def registered_script(client, source):
    """A Lua script registered with ``client`` (see Script)."""
    return Script(client, source)


@process_state.cache()
def script_connections(client):
    """The connections ``client``'s scripts are sent on (see ScriptConnections)."""
    return ScriptConnections(client.connection_pool)


class ScriptConnections:
    """Connections taken from a client's pool once and kept for the app's scripts: a call takes the
    one put back last, or a new one from the pool when every kept one is in use, so there are as
    many as calls have ever run at once (a worker's threads). Borrowing from redis-py's pool for
    each call costs more CPU than sending the script: it records metrics and takes locks.

    A kept connection is checked as the pool checks a loan: one holding a reply nobody read (a call
    stopped before reading it) or closed by the server (a restart) is connected afresh, so no call
    reads another's reply or fails for a socket Redis closed while it was idle. A forked child
    drops them with the rest of herokuapp.process_state: they are its parent's sockets.
    """

    def __init__(self, pool):
        import redis

        self.pool = pool
        self.idle = []
        self.closed = redis.ConnectionError
        self.refused = redis.ResponseError

    def take(self):
        try:
            connection = self.idle.pop()
        except IndexError:
            return self.pool.get_connection()
        try:
            if connection.is_connected and connection.can_read():
                connection.disconnect()
        except self.closed:
            connection.disconnect()
        return connection

    def put_back(self, connection):
        self.idle.append(connection)


class Script:
    """A Lua script called by its SHA, not its text; Redis is sent the text only when it does not
    know the SHA (after a restart). Called as redis-py's own scripts are, ``script(keys=, args=)``.

    Each call sends ``EVALSHA`` on one of the client's script connections (ScriptConnections),
    without redis-py's per-command layer (its observability hooks, argument checks and retry
    wrapper), which cost more CPU than the rest of a page view that counts in Redis. What that
    layer does for a call that fails is done by the connection itself: a timeout, a broken socket
    or an exception before the reply is read disconnects it before the error is raised, and it
    connects again on its next use. The command is sent as send_together sends several.
    """

    def __init__(self, client, source):
        import redis

        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
        self.unknown = redis.exceptions.NoScriptError  # redis-py is imported with the first client

    def __call__(self, keys=(), args=()):
        try:
            return self.evalsha(keys, args)
        except self.unknown:
            self.client.script_load(self.source)
            return self.evalsha(keys, args)

    def command(self, keys=(), args=()):
        """The call as a command for send_together."""
        return ("EVALSHA", self.sha, len(keys), *keys, *args)

    def evalsha(self, keys, args):
        (reply,) = send_together(self.client, [self.command(keys, args)])
        if isinstance(reply, Exception):
            raise reply
        return reply


def send_together(client, commands):
    """Send ``commands`` in one write (one system call) on one of ``client``'s script connections and
    read their replies in order: one round trip for all, as a pipeline makes it. A command Redis
    refused (NOSCRIPT, say) has its error as its reply, so that the rest are still read; a failed
    connection raises."""
    connections = script_connections(client)
    connection = connections.take()
    try:
        connection.send_packed_command(packed(connection, commands))
        replies = []
        for _ in commands:
            try:
                replies.append(connection.read_response())
            except connections.refused as error:
                replies.append(error)
        return replies
    finally:
        connections.put_back(connection)


def packed(connection, commands):
    """The commands as bytes to send at once. With hiredis they are packed by hiredis itself:
    redis-py's packer first walks every argument in Python, to split a command name holding spaces
    and to copy byte arrays, neither of which a script's call has, and that took three times as long."""
    from redis.utils import HIREDIS_AVAILABLE

    if HIREDIS_AVAILABLE:
        from hiredis import pack_command

        return [b"".join(pack_command(command) for command in commands)]
    return connection.pack_commands(commands)
