"""Retry and time-out presets for activities, named for what they protect."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# Broker and hot-path calls: quick retries, but a refused order is final (non-retryable
# application errors carry the reason), so a retry never becomes a second order.
BROKER = RetryPolicy(
    initial_interval=timedelta(milliseconds=100),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=0,  # until the schedule-to-close time-out
    non_retryable_error_types=["OrderRefused", "BadInput"],
)
BROKER_TIMEOUT = timedelta(seconds=10)  # start-to-close of one broker call
BROKER_DEADLINE = timedelta(minutes=5)  # schedule-to-close, retries included

# The books in PostgreSQL: writes are idempotent, so retrying them is safe while the store
# is away (for as long as it takes, every 30 s at most); a write the store refuses (bad data)
# fails as "BadInput" and is never retried. Reconciliation with the venue is the backstop.
BOOKS = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["BadInput"],
)
BOOKS_TIMEOUT = timedelta(seconds=15)

# Starting a workflow by its id: a repeat finds the one already started, so retrying is safe.
START = RetryPolicy(
    initial_interval=timedelta(milliseconds=50),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
)

# Research work (backtests, training, index builds): a few retries for a lost worker or a
# store's hiccup, none for a request the data cannot answer.
RESEARCH = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=["BadInput"],
)
