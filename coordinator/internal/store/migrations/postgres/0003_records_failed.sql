-- Records the destination rejected under on_data_error skip or dlq.
ALTER TABLE runs ADD COLUMN records_failed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stream_results ADD COLUMN records_failed BIGINT NOT NULL DEFAULT 0;
