DROP TABLE send_rate_buckets;
