DROP INDEX sender_numbers_account_idx;
ALTER TABLE sender_numbers DROP CONSTRAINT sender_numbers_account_fkey, DROP COLUMN account_id;
DROP TABLE provider_accounts;
