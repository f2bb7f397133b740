-- +goose Up
-- The admin dashboard's consistency report: every run and every repair, with its results, for the report's history.
CREATE TABLE consistency_runs (
    id       bigserial PRIMARY KEY,
    kind     text        NOT NULL CHECK (kind IN ('run', 'repair')),
    trigger  text        NOT NULL CHECK (trigger IN ('manual', 'schedule', 'repair')),
    actor_id bigint REFERENCES users (id),
    ran_at   timestamptz NOT NULL DEFAULT now(),
    took_ms  bigint      NOT NULL CHECK (took_ms >= 0),
    ok       boolean     NOT NULL,
    summary  text        NOT NULL DEFAULT '',
    -- [{"name","subject","ok","left","right","detail"}]
    checks   jsonb       NOT NULL DEFAULT '[]'
);
CREATE INDEX consistency_runs_ran_at_idx ON consistency_runs (ran_at DESC);

-- +goose Down
DROP TABLE consistency_runs;
