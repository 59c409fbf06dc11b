"""The benchmark's yardstick: the least a WSGI app can do to count a page view in Redis.

One INCR per request, and the counter page's HTML (about 600 bytes) from a format string. The
client is created on first use in each worker, after gunicorn's fork, as herokuapp.redis_client
does.
bench/bench.py serves it with the same gunicorn.conf.py as the app: ``bench.yardstick:application``.
"""

import functools
import os

import redis

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="color-scheme" content="light dark">
  <meta name="description" content="A Django app on Heroku that counts its own page views.">
  <title>herokuapp</title>
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/static/site.css">
</head>
<body>
  <main>
    <h1>Hello, world!</h1>
    <p class="count">This page was viewed <strong>{views:,}</strong> times.</p>
  </main>
</body>
</html>
"""


@functools.cache
def client():
    return redis.Redis.from_url(os.environ["REDIS_URL"], socket_connect_timeout=0.5, socket_timeout=0.5)


def application(environ, start_response):
    body = PAGE.format(views=client().incr("bench:yardstick")).encode()
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]
