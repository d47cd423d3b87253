-- Times are Unix microseconds (UTC); JSON columns hold TEXT.
CREATE TABLE runs (
    id               TEXT PRIMARY KEY,
    pipeline         TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    idempotency_key  TEXT    UNIQUE,
    pipeline_yaml    TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    updated_at       INTEGER NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    owner            TEXT    NOT NULL DEFAULT '',
    records_read     INTEGER NOT NULL DEFAULT 0,
    records_written  INTEGER NOT NULL DEFAULT 0,
    bytes_read       INTEGER NOT NULL DEFAULT 0,
    bytes_written    INTEGER NOT NULL DEFAULT 0,
    duration_secs    REAL    NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    timings          TEXT    NOT NULL DEFAULT '{}',
    error            TEXT
);
CREATE INDEX runs_created_idx ON runs (created_at DESC, id DESC);
CREATE INDEX runs_pipeline_created_idx ON runs (pipeline, created_at DESC, id DESC);
CREATE INDEX runs_unfinished_idx ON runs (created_at, id) WHERE state IN ('PENDING', 'RUNNING');

CREATE TABLE attempts (
    run_id      TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    number      INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    error       TEXT,
    streams     TEXT    NOT NULL DEFAULT '[]',
    PRIMARY KEY (run_id, number)
);

CREATE TABLE stream_results (
    run_id          TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    stream          TEXT    NOT NULL,
    partition_index INTEGER NOT NULL,
    state           TEXT    NOT NULL,
    records_read    INTEGER NOT NULL DEFAULT 0,
    records_written INTEGER NOT NULL DEFAULT 0,
    bytes_read      INTEGER NOT NULL DEFAULT 0,
    bytes_written   INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    duration_secs   REAL    NOT NULL DEFAULT 0,
    error           TEXT,
    checkpoint      TEXT,
    source_worker   TEXT    NOT NULL DEFAULT '',
    dest_worker     TEXT    NOT NULL DEFAULT '',
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (run_id, stream, partition_index)
);

CREATE TABLE cursors (
    pipeline        TEXT    NOT NULL,
    stream          TEXT    NOT NULL,
    partition_index INTEGER NOT NULL,
    checkpoint      TEXT    NOT NULL,
    run_id          TEXT    NOT NULL DEFAULT '',
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (pipeline, stream, partition_index)
);
