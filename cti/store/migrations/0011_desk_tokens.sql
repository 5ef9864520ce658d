-- ctid store, schema version 10: live desktop logins, so that agents' consoles keep
-- their session across a ctid restart (a crash mid-call: the console reconnects by
-- itself to the restarted ctid). Only each token's SHA-256 (hex) is kept, never the
-- token; expires_at in unix µs. Expired rows are deleted as new logins are saved.
-- (Versions may have gaps: numbers are handed out to parallel branches.)

CREATE TABLE desk_tokens (
    token_hash TEXT PRIMARY KEY,
    username   TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
