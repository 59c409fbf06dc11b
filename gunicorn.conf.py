# gunicorn settings for the Procfile's web command. Each choice says why it is made; the values
# from the environment are read through herokuapp.environment, so a wrong one stops the dyno at
# start with one line naming it. GUNICORN_CMD_ARGS overrides anything here.

import gc
import sys

from herokuapp import environment as env
from herokuapp.gunicorn_logging import ACCESS_LOG_FORMAT

with env.exit_on_configuration_error():
    # Heroku routes to the port in PORT; [::] accepts IPv6 and IPv4 connections alike.
    bind = [f"[::]:{env.integer('PORT', 8000, minimum=1, maximum=65535)}"]

    # Heroku sets WEB_CONCURRENCY from the dyno's memory and CPUs; two processes is the least that
    # keeps serving while one is busy or being replaced.
    workers = env.integer("WEB_CONCURRENCY", 2, minimum=1)

# Threads let a worker wait on the database or Redis for one request while serving another, and
# unlike the sync worker they honour keep-alive. Each thread may hold one database connection.
worker_class = "gthread"
threads = 4

# Import the app once in the master and fork it: less memory, faster boot, and a configuration
# error stops the dyno before any worker starts. Connections are opened lazily, after the fork.
preload_app = True

# No garbage collection while the master imports the app, as Python's documentation advises for a
# process that forks: each full collection rescans everything imported so far (tens of
# milliseconds of boot), and what it frees leaves holes in pages the workers would share.
gc.disable()


def when_ready(server):
    """Move everything the preloaded app created out of the garbage collector's reach before the
    fork, then collect again from there: workers never scan those objects (no long pauses in the
    slowest responses) and never touch their pages (which stay shared with the master). The few
    reference cycles the import left (some hundreds of objects) stay, rather than paying a full
    collection on every boot."""
    gc.freeze()
    gc.enable()


def counter_store():
    """The app's counter.engine.base, or None when the app served is not herokuapp.wsgi (the
    benchmark's yardstick runs with these settings too, and has no Django to set up)."""
    return sys.modules.get("counter.engine.base")


def post_worker_init(worker):
    """Start the counter store's background work in each worker, after the fork: with Redis, a
    worker flushes what it finds pending within a flush interval of starting, views or not."""
    if store := counter_store():
        store.get_store().start()


def worker_exit(server, worker):
    """Flush the views a worker's store holds on its way out, inside graceful_timeout: every
    deploy and daily restart sends SIGTERM, and Redis may not keep what is pending."""
    if store := counter_store():
        store.stop_store()


# The router gives up on a request after 30 s; a worker stuck longer than this is restarted.
timeout = 25

# After SIGTERM Heroku waits 30 s before SIGKILL: finish in-flight requests well inside that.
graceful_timeout = 20

# The router keeps idle connections to the dyno open for up to 90 s; closing ours first would
# race with a request it is sending.
keepalive = 95

# The router is the only client and it terminates TLS; trust its X-Forwarded-* headers.
forwarded_allow_ips = "*"

# Logs go to stdout, one line per request, with the router's request id and queue time.
accesslog = "-"
access_log_format = ACCESS_LOG_FORMAT
logger_class = "herokuapp.gunicorn_logging.HerokuLogger"

# A dyno is managed by Heroku, not by gunicorn; several dynos on one machine must not share a socket.
control_socket_disable = True
