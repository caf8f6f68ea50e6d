-- The model registry: every trained ensemble is a version of a model (one per symbol and
-- timeframe), with what it was trained on and how it scored out of sample. At most one
-- version of a model is its champion, the one the decision path scores with; every change
-- of champion is kept, so a rollback knows where to go back to.
CREATE TABLE model_versions (
    name           text        NOT NULL,
    version        integer     NOT NULL CHECK (version >= 1),
    symbol         text        NOT NULL,
    timeframe      text        NOT NULL,
    kinds          text[]      NOT NULL,
    features_hash  text        NOT NULL,
    label          text        NOT NULL,
    data_from      timestamptz NOT NULL,
    data_to        timestamptz NOT NULL,
    metrics        jsonb       NOT NULL DEFAULT '{}',
    status         text        NOT NULL DEFAULT 'candidate'
                   CHECK (status IN ('candidate', 'champion', 'retired')),
    artifact       text        NOT NULL,
    trained_by     text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);
CREATE UNIQUE INDEX model_versions_one_champion ON model_versions (name)
    WHERE status = 'champion';

CREATE TABLE model_promotions (
    id         bigserial   PRIMARY KEY,
    name       text        NOT NULL,
    version    integer     NOT NULL,
    previous   integer,
    action     text        NOT NULL CHECK (action IN ('promote', 'rollback')),
    reason     text        NOT NULL DEFAULT '',
    at         timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (name, version) REFERENCES model_versions (name, version)
);
CREATE INDEX model_promotions_by_name ON model_promotions (name, id DESC);
-- a retried training activity finds the version it registered instead of adding another
CREATE UNIQUE INDEX model_versions_trained_by ON model_versions (name, trained_by)
    WHERE trained_by <> '';

-- every challenge of a champion by a newly trained candidate, promoted or not
CREATE TABLE model_challenges (
    id                bigserial        PRIMARY KEY,
    name              text             NOT NULL,
    challenger        integer          NOT NULL,
    champion          integer,
    metric            text             NOT NULL,
    challenger_value  double precision,
    champion_value    double precision,
    promoted          boolean          NOT NULL,
    reason            text             NOT NULL,
    at                timestamptz      NOT NULL DEFAULT now(),
    FOREIGN KEY (name, challenger) REFERENCES model_versions (name, version)
);
