-- LLM review calls per tenant, provider, model and day: requests, failures, tokens and what
-- they cost, added to as each call ends.
CREATE TABLE llm_usage (
    tenant             text             NOT NULL,
    provider           text             NOT NULL,
    model              text             NOT NULL,
    day                date             NOT NULL,
    requests           bigint           NOT NULL DEFAULT 0,
    failures           bigint           NOT NULL DEFAULT 0,
    prompt_tokens      bigint           NOT NULL DEFAULT 0,
    completion_tokens  bigint           NOT NULL DEFAULT 0,
    cost_usd           double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, provider, model, day)
);
