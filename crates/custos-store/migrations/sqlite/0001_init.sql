-- Custos schema, SQLite. Times are Unix milliseconds, agent ids hyphenated UUID text,
-- hashes raw 32-byte blobs, JSON documents text.

CREATE TABLE agents (
    seq            INTEGER PRIMARY KEY,
    id             TEXT    NOT NULL UNIQUE,
    email          TEXT    NOT NULL UNIQUE,
    created_at_ms  INTEGER NOT NULL,
    frozen         INTEGER NOT NULL DEFAULT 0,
    policy         TEXT,
    policy_version INTEGER NOT NULL DEFAULT 0,
    addresses      TEXT    NOT NULL
);
CREATE INDEX agents_by_creation ON agents (created_at_ms, seq);

CREATE TABLE otps (
    email         TEXT    PRIMARY KEY,
    code_hash     BLOB    NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX otps_by_expiry ON otps (expires_at_ms);

CREATE TABLE sessions (
    agent_id      TEXT    PRIMARY KEY REFERENCES agents (id),
    session_id    TEXT    NOT NULL,
    expires_at_ms INTEGER NOT NULL
);

CREATE TABLE api_keys (
    key_id        TEXT    PRIMARY KEY,
    agent_id      TEXT    NOT NULL REFERENCES agents (id),
    key_hash      BLOB    NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);
CREATE INDEX api_keys_by_agent ON api_keys (agent_id);

CREATE TABLE operator_tokens (
    token_id      TEXT    PRIMARY KEY,
    token_hash    BLOB    NOT NULL UNIQUE,
    role          TEXT    NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);

-- status/body are NULL while the request that claimed the key is still running.
CREATE TABLE idempotency (
    scope         TEXT    NOT NULL,
    idem_key      TEXT    NOT NULL,
    request_hash  BLOB    NOT NULL,
    status        INTEGER,
    body          BLOB,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
CREATE INDEX idempotency_by_creation ON idempotency (created_at_ms);

CREATE TABLE audit (
    id            INTEGER PRIMARY KEY CHECK (id >= 1),
    time_ms       INTEGER NOT NULL,
    agent_id      TEXT,
    operator      TEXT,
    endpoint      TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    params        TEXT    NOT NULL,
    usd_amount    TEXT,
    token_amounts TEXT    NOT NULL,
    tx            TEXT,
    outcome       TEXT    NOT NULL,
    status        INTEGER NOT NULL,
    reason        TEXT,
    request_id    TEXT    NOT NULL,
    prev_hash     BLOB    NOT NULL,
    hash          BLOB    NOT NULL
);
CREATE INDEX audit_by_agent ON audit (agent_id, id);

-- The log is append-only in the database itself, not only in the code that writes it.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;

-- Defence in depth: a buggy or hostile writer cannot leave a gap or fork the chain.
CREATE TRIGGER audit_extends_chain BEFORE INSERT ON audit
WHEN NEW.id IS NOT COALESCE((SELECT MAX(id) FROM audit), 0) + 1
  OR NEW.prev_hash IS NOT COALESCE((SELECT hash FROM audit WHERE id = NEW.id - 1), zeroblob(32))
BEGIN
    SELECT RAISE(ABORT, 'audit records must extend the chain');
END;

CREATE TABLE audit_checkpoints (
    seq        INTEGER PRIMARY KEY,
    checkpoint TEXT    NOT NULL
);

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;

CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
