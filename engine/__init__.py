"""The one engine: ticks or bars in, orders and events out, the same code live and in replay.

The hot path (`hotpath/`) feeds it a live feed and drains its outbox to the bus; a backtest
(`research.replay`) feeds it history through the paper broker. It holds no clock of its own
and does no I/O, so both run exactly the same decisions. Split by responsibility:

- `core`: routing of ticks and bars to bars, features, strategies and decision candidates;
- `orders`: order ids, the risk gate and the venue, cancel and amend;
- `broker_events`: what the venue reports, applied to orders, books and strategies;
- `kill_switch`: the account's emergency stop;
- `recovery`: a restart's rebuild from the journal or from what a real broker holds;
- `journal_codec`: the paper venue's journal lines, read and written;
- `state`: what all of them share; `outbox`: events waiting for the bus.
"""
