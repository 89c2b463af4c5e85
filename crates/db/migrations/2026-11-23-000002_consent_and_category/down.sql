ALTER TABLE messages DROP COLUMN category;
ALTER TABLE templates DROP COLUMN category;
DROP TABLE consent_events;
ALTER TABLE customers DROP COLUMN consent;
