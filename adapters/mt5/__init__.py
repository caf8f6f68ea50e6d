"""MetaTrader 5: the `MetaTrader5` package (Windows), or the same API through a bridge."""
