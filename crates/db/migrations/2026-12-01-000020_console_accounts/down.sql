DROP TABLE console_emails;
DROP TABLE console_email_tokens;
DROP TABLE console_sessions;
DROP TABLE console_users;
