"""The counting engine: the store contract and its database and Redis stores (docs/counting.md).

It may import counter.models and the project's Redis client; nothing of the features or the web.
"""
