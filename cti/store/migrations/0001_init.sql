-- ctid store, schema version 1.
-- Dialect-neutral: {{AUTOID}} expands to the engine's auto-increment primary key.
-- Every time column holds Unix microseconds UTC (BIGINT) in both engines; NULL = not yet.

CREATE TABLE interactions (
    id            TEXT PRIMARY KEY,
    call_id       TEXT NOT NULL DEFAULT '',
    direction     TEXT NOT NULL,
    queue         TEXT NOT NULL DEFAULT '',
    campaign      TEXT NOT NULL DEFAULT '',
    caller_number TEXT NOT NULL DEFAULT '',
    caller_name   TEXT NOT NULL DEFAULT '',
    dialled       TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    queued_at     BIGINT,
    answered_at   BIGINT,
    ended_at      BIGINT,
    outcome       TEXT NOT NULL DEFAULT '',
    cause         TEXT NOT NULL DEFAULT '',
    disposition   TEXT NOT NULL DEFAULT '',
    notes         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX interactions_created ON interactions (created_at);
CREATE INDEX interactions_queue_created ON interactions (queue, created_at);
CREATE INDEX interactions_caller_number ON interactions (caller_number, created_at);
CREATE INDEX interactions_dialled ON interactions (dialled, created_at);

CREATE TABLE interaction_segments (
    interaction_id TEXT NOT NULL REFERENCES interactions (id) ON DELETE CASCADE,
    seq            INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    agent          TEXT NOT NULL DEFAULT '',
    started_at     BIGINT NOT NULL,
    ended_at       BIGINT,
    PRIMARY KEY (interaction_id, seq)
);
CREATE INDEX interaction_segments_agent ON interaction_segments (agent, started_at);

CREATE TABLE agent_state_log (
    id     {{AUTOID}},
    agent  TEXT NOT NULL,
    state  TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    at     BIGINT NOT NULL
);
CREATE INDEX agent_state_log_agent_at ON agent_state_log (agent, at);
CREATE INDEX agent_state_log_at ON agent_state_log (at);

CREATE TABLE audit_log (
    id     {{AUTOID}},
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    at     BIGINT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE users (
    username      TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE user_teams (
    username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    team     TEXT NOT NULL,
    PRIMARY KEY (username, team)
);
