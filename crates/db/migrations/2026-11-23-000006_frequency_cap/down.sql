DROP INDEX messages_cap_idx;
ALTER TABLE shops DROP COLUMN marketing_cap_window_hours, DROP COLUMN marketing_cap_count;
