"""The counter app: the home page's count and named counters for other sites, in three layers.

Imports flow one way: ``web`` (views, the API, badges, middleware) imports ``features``, which
imports ``engine``, which imports ``models`` and ``text``; the app's Django modules (``apps``,
``admin``, ``management``) stand on top. A test holds the direction (tests/test_layers.py).
"""
