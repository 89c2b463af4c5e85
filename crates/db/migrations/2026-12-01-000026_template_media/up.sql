-- A template may carry an image: every message made from it (a send naming the
-- template, a campaign) is then an MMS with that image.
ALTER TABLE templates ADD COLUMN media_id uuid REFERENCES media (id);
