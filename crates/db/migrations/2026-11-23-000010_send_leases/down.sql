ALTER TABLE messages DROP COLUMN lease_until, DROP COLUMN claimed_by;
