DROP TABLE verified_numbers;
ALTER TABLE tenants DROP COLUMN approved_at, DROP COLUMN destination_calling_codes;
