-- A backtest run keeps the request it was started with and the metric that ranks its
-- parameter sets; each set's metrics are a row of backtest_results, best first.
ALTER TABLE backtest_runs ADD COLUMN request jsonb NOT NULL DEFAULT '{}';
ALTER TABLE backtest_runs ADD COLUMN metric text NOT NULL DEFAULT 'sharpe';

CREATE TABLE backtest_results (
    run_id   text NOT NULL REFERENCES backtest_runs (run_id) ON DELETE CASCADE,
    rank     integer NOT NULL CHECK (rank >= 1),
    params   jsonb NOT NULL,
    metrics  jsonb NOT NULL,
    PRIMARY KEY (run_id, rank)
);
