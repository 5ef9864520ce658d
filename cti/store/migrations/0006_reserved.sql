-- ctid store, schema version 6: reserved for the campaigns work (assigned to another
-- branch). This placeholder exists only so that versions 7 and 8 load on a branch
-- without it; delete it when the real 0006 is merged (the loader refuses two files
-- of one version).
SELECT 1;
