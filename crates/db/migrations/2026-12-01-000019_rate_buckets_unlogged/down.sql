ALTER TABLE send_rate_buckets SET LOGGED;
