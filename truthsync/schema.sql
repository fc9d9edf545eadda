-- TruthSync fact store: its own schema, so it never collides with the API's tables.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE SCHEMA IF NOT EXISTS truthsync;
CREATE TABLE IF NOT EXISTS truthsync.sources (
    id    integer PRIMARY KEY,
    name  text NOT NULL UNIQUE,
    trust real NOT NULL CHECK (trust BETWEEN 0 AND 1)
);
CREATE TABLE IF NOT EXISTS truthsync.facts (
    id        integer PRIMARY KEY,
    statement text NOT NULL,
    template  text NOT NULL,          -- normalised statement, numbers masked as '#'
    numbers   double precision[] NOT NULL,
    source_id integer NOT NULL REFERENCES truthsync.sources (id)
);
CREATE TABLE IF NOT EXISTS truthsync.dataset (
    one       boolean PRIMARY KEY DEFAULT true CHECK (one),
    name      text NOT NULL,
    facts     integer NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
);
