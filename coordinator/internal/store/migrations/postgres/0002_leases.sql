-- Run ownership: one lease per pipeline, held by the coordinator that drives
-- the pipeline's active run and renewed by it (times are Unix microseconds).
CREATE TABLE pipeline_leases (
    pipeline   TEXT   PRIMARY KEY,
    run_id     TEXT   NOT NULL,
    owner      TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);

-- What another coordinator process needs to resume a run: the sealed
-- (AES-GCM) submit-time data, or why the run cannot be resumed.
ALTER TABLE runs ADD COLUMN resume_data BYTEA;
ALTER TABLE runs ADD COLUMN resume_blocker TEXT NOT NULL DEFAULT '';
