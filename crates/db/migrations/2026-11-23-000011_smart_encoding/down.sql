ALTER TABLE shops DROP COLUMN smart_encoding;
