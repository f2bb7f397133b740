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

-- Every admin action, written in the action's own transaction: who, what
-- kind of thing, which one, and that thing before and after (docs/HTTP.md,
-- GET /admin/audit). admin_id is NULL for the shop's own scheduled steps
-- (a campaign ended when its window closed).
CREATE TABLE audit_log (
    id         bigserial   PRIMARY KEY,
    admin_id   bigint      REFERENCES users (id),
    kind       text        NOT NULL CHECK (kind IN ('campaign', 'product', 'order', 'shopper', 'repair')),
    action     text        NOT NULL CHECK (length(action) BETWEEN 1 AND 40),
    subject    text        NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
    before     jsonb,
    after      jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- The trail lists newest first by (created_at, id), so that a range of days
-- is a range of one of these indexes whichever filter comes with it.
CREATE INDEX audit_log_created_idx ON audit_log (created_at, id);
CREATE INDEX audit_log_admin_idx ON audit_log (admin_id, created_at, id);
CREATE INDEX audit_log_kind_idx ON audit_log (kind, created_at, id);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE consistency_runs;
