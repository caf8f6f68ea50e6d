-- Sign-in for the trader API.
--
-- Refresh tokens are opaque and kept as SHA-256 digests. Each belongs to a family started at
-- login; a refresh spends its token and issues the next of the family. A spent token shown
-- again means two parties hold it, so the whole family is revoked.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    family_id   uuid NOT NULL,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest      bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    spent_at    timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Keys for programs: shown once, kept as SHA-256 digests (a key carries 256 random bits, so a
-- slow hash would buy nothing), scoped and revocable. The prefix names a key in lists.
CREATE TABLE api_keys (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix      text NOT NULL UNIQUE,
    digest      bytea NOT NULL UNIQUE,
    scopes      text[] NOT NULL
                CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['read', 'trade']::text[]),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- An order placed with an Idempotency-Key: the same request again gets the same order, another
-- request under a key already used is refused. Keys are the caller's own (per user).
CREATE TABLE idempotency_keys (
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key              text NOT NULL,
    request_digest   bytea NOT NULL,
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    account_id       uuid NOT NULL REFERENCES accounts (id),
    client_order_id  varchar(24) NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_order ON idempotency_keys (account_id, client_order_id);
