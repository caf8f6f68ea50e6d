-- The id an account goes by on the bus and in workflow ids (commands:demo, order-...).
ALTER TABLE accounts ADD COLUMN code text;
UPDATE accounts SET code = id::text WHERE code IS NULL;
ALTER TABLE accounts ALTER COLUMN code SET NOT NULL;
ALTER TABLE accounts ADD CONSTRAINT accounts_code_unique UNIQUE (code);

-- A stored position is what the fills add up to: volume, average price and costs. Realised
-- PnL needs contract sizes and conversion quotes, so it is derived when read, not stored.
ALTER TABLE positions DROP COLUMN realised_pnl;
