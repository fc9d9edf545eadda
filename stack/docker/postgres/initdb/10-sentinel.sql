-- First start only (the postgres image runs this on an empty data directory).
-- pg_stat_statements is preloaded by the shared postgresql.conf; the lab reads it (P1, P7).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
