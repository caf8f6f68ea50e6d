"""Market-data files on disk: the formats quants bring (CSV, HistData, MT5 exports)."""
