-- Results are written as each chunk of the grid finishes (a retried chunk rewrites its own
-- rows), keyed by scope (the whole range, or one walk-forward window) and the set's index in
-- the grid; ranks are given when the run closes.
ALTER TABLE backtest_results DROP CONSTRAINT backtest_results_pkey;
ALTER TABLE backtest_results ADD COLUMN scope text NOT NULL DEFAULT 'all';
ALTER TABLE backtest_results ADD COLUMN set_index integer;
UPDATE backtest_results SET set_index = rank - 1;
ALTER TABLE backtest_results ALTER COLUMN set_index SET NOT NULL;
ALTER TABLE backtest_results ALTER COLUMN rank DROP NOT NULL;
ALTER TABLE backtest_results ADD PRIMARY KEY (run_id, scope, set_index);
CREATE INDEX backtest_results_by_rank ON backtest_results (run_id, scope, rank);
