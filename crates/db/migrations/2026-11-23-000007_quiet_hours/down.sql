ALTER TABLE customers DROP COLUMN time_zone;
ALTER TABLE shops DROP COLUMN quiet_hours_end, DROP COLUMN quiet_hours_start;
