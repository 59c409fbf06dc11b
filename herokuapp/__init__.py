"""The Django project: settings, URLs, the WSGI entry point, and what every page shares (security
headers, logs, the Redis client, what a process keeps).

It imports no module of the counter app when it is imported; its settings name them as strings.
"""
