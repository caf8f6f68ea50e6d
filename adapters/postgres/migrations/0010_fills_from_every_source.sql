-- Every deal the venue reports is a fill in the books, whoever caused it: an order a workflow
-- placed, a strategy's own order, a stop-loss or take-profit leg, the kill switch's flattening,
-- the broker on its own. A fill that no order row explains keeps the client order id the venue
-- gave it; its order row, when one is written later, is linked to it then.
ALTER TABLE fills ALTER COLUMN order_id DROP NOT NULL;
ALTER TABLE fills ADD COLUMN client_order_id text;
UPDATE fills f SET client_order_id = o.client_order_id FROM orders o WHERE o.id = f.order_id;
ALTER TABLE fills ALTER COLUMN client_order_id SET NOT NULL;
ALTER TABLE fills ADD CONSTRAINT fills_client_order_id CHECK (client_order_id ~ '^[\x21-\x7e]{1,64}$');
ALTER TABLE fills ADD COLUMN source text NOT NULL DEFAULT 'order'
    CHECK (source IN ('order', 'strategy', 'stop_loss', 'take_profit', 'kill_switch', 'broker'));
-- found by the reconciliation with the venue rather than by the event of the deal
ALTER TABLE fills ADD COLUMN repaired boolean NOT NULL DEFAULT false;
-- the profit the deal realised in the account currency, as the venue reports it (MT5's deal
-- profit); with commission and swap it is what the deal did to the balance
ALTER TABLE fills ADD COLUMN profit numeric NOT NULL DEFAULT 0;
ALTER TABLE fills ADD COLUMN position_id text;
ALTER TABLE fills ADD COLUMN strategy text;
-- the venue's own nanoseconds (ts_event keeps microseconds) and the order of arrival: a
-- position recomputed from its fills applies them in the order the venue did
ALTER TABLE fills ADD COLUMN ts_ns bigint;
UPDATE fills SET ts_ns = (extract(epoch FROM ts_event) * 1000000)::bigint * 1000;
ALTER TABLE fills ALTER COLUMN ts_ns SET NOT NULL;
ALTER TABLE fills ADD COLUMN seq bigserial;
CREATE INDEX fills_account_symbol ON fills (account_id, symbol, ts_ns, seq);
CREATE INDEX fills_account_order ON fills (account_id, client_order_id);

ALTER TABLE positions ADD COLUMN realised numeric NOT NULL DEFAULT 0;

-- what the account started with; its balance is that plus what every fill did to it
ALTER TABLE accounts ADD COLUMN deposit numeric;

-- The last comparison of each account's books with its venue, and every repair since.
CREATE TABLE reconciliations (
    account_id  uuid PRIMARY KEY REFERENCES accounts (id),
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    checked_at  timestamptz NOT NULL,
    status      text NOT NULL,
    report      jsonb NOT NULL,
    repairs     bigint NOT NULL DEFAULT 0
);
