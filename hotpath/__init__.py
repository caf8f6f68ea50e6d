"""The hot path: one asyncio process per trading account, ticks in, orders out, in microseconds.

It never imports `temporalio` or `fastapi`: events leave and commands arrive through the bus.
"""
