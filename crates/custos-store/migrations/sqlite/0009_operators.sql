-- Operator accounts (custos_core::operator): one typed JSON document per account, updated by
-- compare-and-set on `version`; console sessions keyed by their cookie's hash.
CREATE TABLE operator_accounts (
    id       TEXT    PRIMARY KEY,
    email    TEXT    NOT NULL UNIQUE,
    doc      TEXT    NOT NULL,
    version  INTEGER NOT NULL
);
CREATE TABLE console_sessions (
    id_hash             BLOB    PRIMARY KEY,
    operator_id         TEXT    NOT NULL REFERENCES operator_accounts (id),
    created_at_ms       INTEGER NOT NULL,
    expires_at_ms       INTEGER NOT NULL,
    totp_fresh_until_ms INTEGER
);
CREATE INDEX console_sessions_by_operator ON console_sessions (operator_id);
