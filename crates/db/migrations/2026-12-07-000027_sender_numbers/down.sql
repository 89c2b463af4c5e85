ALTER TABLE shops DROP CONSTRAINT shops_sender_number_owned;
DROP INDEX shops_sender_number_idx;
-- A shop that lost its number to another tenant cannot get it back; it gets a number
-- it cannot send from, so that the column can be NOT NULL again.
UPDATE shops SET sender_number = '+10000000000' WHERE sender_number IS NULL;
ALTER TABLE shops ALTER COLUMN sender_number SET NOT NULL;
DROP TABLE sender_numbers;
