-- Smart encoding per shop (off by default): look-alike characters become GSM-7 before
-- the message is stored and counted, so one curly quote does not double its cost.
ALTER TABLE shops ADD COLUMN smart_encoding boolean NOT NULL DEFAULT false;
