-- ctid store, schema version 3: outbound campaigns, contact lists and their imports,
-- contacts and their numbers, do-not-call lists, attempts, scheduled campaign
-- callbacks and safe-harbour lockouts.

CREATE TABLE campaigns (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    state      TEXT NOT NULL,
    config     TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE contact_lists (
    id          TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX contact_lists_campaign_name ON contact_lists (campaign_id, name);

-- One row per import. Contacts are visible only once their import is complete or
-- partial; a running import that stops being updated (crash) is cleaned up by the
-- next import into the same list.
CREATE TABLE list_imports (
    id          TEXT PRIMARY KEY,
    list_id     TEXT NOT NULL REFERENCES contact_lists (id) ON DELETE CASCADE,
    file_name   TEXT NOT NULL DEFAULT '',
    mode        TEXT NOT NULL,
    status      TEXT NOT NULL,
    rows_read   INTEGER NOT NULL DEFAULT 0,
    imported    INTEGER NOT NULL DEFAULT 0,
    rejected    INTEGER NOT NULL DEFAULT 0,
    duplicates  INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT '',
    created_by  TEXT NOT NULL DEFAULT '',
    started_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX list_imports_list ON list_imports (list_id, started_at);

CREATE TABLE contacts (
    id          TEXT PRIMARY KEY,
    list_id     TEXT NOT NULL REFERENCES contact_lists (id) ON DELETE CASCADE,
    import_id   TEXT NOT NULL REFERENCES list_imports (id) ON DELETE CASCADE,
    line        INTEGER NOT NULL,
    external_id TEXT NOT NULL DEFAULT '',
    first_name  TEXT NOT NULL DEFAULT '',
    last_name   TEXT NOT NULL DEFAULT '',
    zone        TEXT NOT NULL DEFAULT '',
    fields      TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL
);
-- (list_id, import_id, line) also serves deleting an import's rows.
CREATE INDEX contacts_list_order ON contacts (list_id, import_id, line);

CREATE TABLE contact_numbers (
    contact_id TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    idx        INTEGER NOT NULL,
    list_id    TEXT NOT NULL,
    number     TEXT NOT NULL,
    zone       TEXT NOT NULL DEFAULT '',
    label      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (contact_id, idx)
);
CREATE UNIQUE INDEX contact_numbers_list_number ON contact_numbers (list_id, number);

-- scope '' is the internal (global) list; otherwise a campaign id.
CREATE TABLE dnc (
    scope    TEXT NOT NULL,
    number   TEXT NOT NULL,
    source   TEXT NOT NULL,
    added_by TEXT NOT NULL,
    reason   TEXT NOT NULL DEFAULT '',
    added_at BIGINT NOT NULL,
    PRIMARY KEY (scope, number)
);
CREATE INDEX dnc_number ON dnc (number);

CREATE TABLE campaign_attempts (
    id             TEXT PRIMARY KEY,
    campaign_id    TEXT NOT NULL,
    contact_id     TEXT NOT NULL,
    number         TEXT NOT NULL,
    agent          TEXT NOT NULL DEFAULT '',
    interaction_id TEXT NOT NULL DEFAULT '',
    outcome        TEXT NOT NULL DEFAULT '',
    disposition    TEXT NOT NULL DEFAULT '',
    notes          TEXT NOT NULL DEFAULT '',
    placed_at      BIGINT NOT NULL,
    answered_at    BIGINT,
    connected_at   BIGINT,
    ended_at       BIGINT
);
CREATE INDEX campaign_attempts_campaign ON campaign_attempts (campaign_id, placed_at);
CREATE INDEX campaign_attempts_contact ON campaign_attempts (contact_id, placed_at);

CREATE TABLE campaign_callbacks (
    id           TEXT PRIMARY KEY,
    campaign_id  TEXT NOT NULL,
    contact_id   TEXT NOT NULL,
    agent        TEXT NOT NULL DEFAULT '',
    due_at       BIGINT NOT NULL,
    zone         TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL,
    created_by   TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX campaign_callbacks_due ON campaign_callbacks (campaign_id, status, due_at);

-- A number abandoned under the 2-second rule is not re-dialled without a guaranteed
-- agent until until_at, by any campaign.
CREATE TABLE number_lockouts (
    number      TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    until_at    BIGINT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);
