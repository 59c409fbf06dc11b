"""What the app does with counts: named counters, visitors, history, bots, rate limits, badges.

Plain Python on the engine's contract: it may import counter.engine, counter.models and the
project's modules, never counter.web.
"""
