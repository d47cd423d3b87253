-- Runs that follow their change stream until cancelled (rapidbyte run --follow).
ALTER TABLE runs ADD COLUMN follow BOOLEAN NOT NULL DEFAULT FALSE;
