ALTER TABLE templates DROP COLUMN media_id;
