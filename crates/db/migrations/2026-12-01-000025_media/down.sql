ALTER TABLE messages DROP COLUMN media_id;
DROP TABLE media;
