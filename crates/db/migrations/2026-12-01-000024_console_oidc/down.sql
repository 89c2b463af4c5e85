DROP TABLE console_oidc_identities;
DROP TABLE console_oidc_logins;
