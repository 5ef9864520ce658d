-- ctid store, schema version 9: users keep the display name they were created with
-- (POST /api/v1/users, `ctid user add --display-name`), shown on desktops and the
-- wallboard. (Versions may have gaps: numbers are handed out to parallel branches.)

ALTER TABLE users ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
