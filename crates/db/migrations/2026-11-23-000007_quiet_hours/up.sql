-- Quiet hours per shop, in the recipient's local time; a customer may carry their own
-- time zone (else the phone number's country's, else the shop's applies).
ALTER TABLE shops
    ADD COLUMN quiet_hours_start time NOT NULL DEFAULT '21:00',
    ADD COLUMN quiet_hours_end time NOT NULL DEFAULT '08:00';
ALTER TABLE customers ADD COLUMN time_zone text;
