-- Tenants own everything; every row that a trader can see carries tenant_id so the data
-- layer can scope each query by the caller's tenant.
CREATE TABLE tenants (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug        text NOT NULL UNIQUE,
    name        text NOT NULL,
    tier        text NOT NULL DEFAULT 'free' CHECK (tier IN ('free', 'pro', 'institutional')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    email          text NOT NULL UNIQUE,
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN ('viewer', 'trader', 'admin', 'operator')),
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_tenant ON users (tenant_id);

CREATE TABLE accounts (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    name        text NOT NULL,
    broker      text NOT NULL CHECK (broker IN ('paper', 'mt5')),
    login       text,
    currency    char(3) NOT NULL DEFAULT 'USD',
    leverage    integer NOT NULL DEFAULT 100 CHECK (leverage > 0),
    hedging     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

-- Instruments as MT5's symbol_info describes them; prices and volumes are rounded to these.
CREATE TABLE instruments (
    symbol           text PRIMARY KEY,
    description      text NOT NULL DEFAULT '',
    digits           smallint NOT NULL CHECK (digits BETWEEN 0 AND 10),
    point            numeric NOT NULL CHECK (point > 0),
    tick_size        numeric NOT NULL CHECK (tick_size > 0),
    tick_value       numeric NOT NULL,
    contract_size    numeric NOT NULL CHECK (contract_size > 0),
    volume_min       numeric NOT NULL,
    volume_step      numeric NOT NULL CHECK (volume_step > 0),
    volume_max       numeric NOT NULL,
    stops_level      integer NOT NULL DEFAULT 0,
    trade_mode       smallint NOT NULL DEFAULT 4,
    currency_base    char(3) NOT NULL,
    currency_profit  char(3) NOT NULL,
    currency_margin  char(3) NOT NULL,
    margin_initial   numeric NOT NULL DEFAULT 0,
    swap_long        numeric NOT NULL DEFAULT 0,
    swap_short       numeric NOT NULL DEFAULT 0
);

-- client_order_id is fixed before the first submission and travels in MT5's comment,
-- hence 24 ASCII characters at most; it is unique per account so a resend is detectable.
CREATE TABLE orders (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    account_id       uuid NOT NULL REFERENCES accounts (id),
    client_order_id  varchar(24) NOT NULL CHECK (client_order_id ~ '^[\x21-\x7e]{1,24}$'),
    symbol           text NOT NULL,
    side             text NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type       text NOT NULL CHECK (order_type IN ('market', 'limit', 'stop', 'stop_limit')),
    time_in_force    text NOT NULL CHECK (time_in_force IN ('gtc', 'day', 'gtd', 'ioc', 'fok')),
    volume           numeric NOT NULL CHECK (volume > 0),
    filled_volume    numeric NOT NULL DEFAULT 0 CHECK (filled_volume >= 0 AND filled_volume <= volume),
    price            numeric,
    stop_price       numeric,
    expire_at        timestamptz,
    state            text NOT NULL,
    strategy         text,
    magic            bigint,
    broker_order_id  text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, client_order_id)
);
CREATE INDEX orders_tenant_created ON orders (tenant_id, created_at DESC);

-- A fill is a broker deal; its ticket is unique per account, so recording it twice is a no-op.
CREATE TABLE fills (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    account_id      uuid NOT NULL REFERENCES accounts (id),
    order_id        uuid NOT NULL REFERENCES orders (id),
    broker_fill_id  text NOT NULL,
    symbol          text NOT NULL,
    side            text NOT NULL CHECK (side IN ('buy', 'sell')),
    volume          numeric NOT NULL CHECK (volume > 0),
    price           numeric NOT NULL,
    commission      numeric NOT NULL DEFAULT 0,
    swap            numeric NOT NULL DEFAULT 0,
    ts_event        timestamptz NOT NULL,
    UNIQUE (account_id, broker_fill_id)
);
CREATE INDEX fills_order ON fills (order_id);

-- position_id is the broker's position ticket on hedging accounts and the symbol on netting ones.
CREATE TABLE positions (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    account_id     uuid NOT NULL REFERENCES accounts (id),
    symbol         text NOT NULL,
    position_id    text NOT NULL,
    volume         numeric NOT NULL,
    avg_price      numeric NOT NULL,
    realised_pnl   numeric NOT NULL DEFAULT 0,
    commission     numeric NOT NULL DEFAULT 0,
    swap           numeric NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, symbol, position_id)
);

CREATE TABLE models (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id      uuid REFERENCES tenants (id),
    name           text NOT NULL,
    version        integer NOT NULL CHECK (version > 0),
    kind           text NOT NULL,
    features_hash  text NOT NULL,
    data_from      timestamptz,
    data_to        timestamptz,
    metrics        jsonb NOT NULL DEFAULT '{}',
    status         text NOT NULL DEFAULT 'candidate'
                   CHECK (status IN ('candidate', 'champion', 'retired')),
    artifact_uri   text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, version)
);
-- At most one champion per model name.
CREATE UNIQUE INDEX models_one_champion ON models (name) WHERE status = 'champion';

CREATE TABLE backtest_runs (
    run_id       text PRIMARY KEY,
    tenant_id    uuid REFERENCES tenants (id),
    strategy     text NOT NULL,
    symbols      text[] NOT NULL,
    timeframe    text NOT NULL,
    date_from    timestamptz NOT NULL,
    date_to      timestamptz NOT NULL,
    mode         text NOT NULL CHECK (mode IN ('sweep', 'replay', 'walk-forward')),
    params       jsonb NOT NULL DEFAULT '{}',
    status       text NOT NULL DEFAULT 'running',
    metrics      jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
