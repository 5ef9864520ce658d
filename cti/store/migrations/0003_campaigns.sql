-- PLACEHOLDER on the reports branch only: version 3 belongs to the dialer branch's
-- 0003_campaigns.sql. Migration versions must be contiguous, so this branch carries
-- an empty version 3 to test its 0004. At merge, take the dialer's file (this one
-- conflicts with it on purpose so that it cannot be merged silently).
SELECT 1;
