DROP TABLE console_invitations;
