"""The HTTP layer: the home page and its fast path, the JSON API, badges, stats and middleware.

It turns requests into calls of counter.features and counter.engine and their results into
responses; nothing below imports it.
"""
