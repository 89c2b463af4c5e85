DROP TABLE accepted_requests;
