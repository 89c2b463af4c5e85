DROP TABLE console_reset_codes;
