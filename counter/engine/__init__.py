"""The counting engine: everything between a view and the database (see docs/counting.md).

Code above it calls only the store contract in counter.engine.base; the engine imports nothing of
the features built on it (named counters, history, visitors, rate limits, badges).
"""
