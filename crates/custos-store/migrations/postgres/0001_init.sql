-- Custos schema, PostgreSQL. Times are Unix milliseconds, agent ids hyphenated UUID text,
-- hashes raw 32-byte bytea, JSON documents text (not jsonb: the audit chain hashes the
-- documents, so they must come back exactly as they were written).

CREATE TABLE agents (
    seq            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             TEXT    NOT NULL UNIQUE,
    email          TEXT    NOT NULL UNIQUE,
    created_at_ms  BIGINT  NOT NULL,
    frozen         BOOLEAN NOT NULL DEFAULT FALSE,
    policy         TEXT,
    policy_version BIGINT  NOT NULL DEFAULT 0,
    addresses      TEXT    NOT NULL
);
CREATE INDEX agents_by_creation ON agents (created_at_ms, seq);

CREATE TABLE otps (
    email         TEXT   PRIMARY KEY,
    code_hash     BYTEA  NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX otps_by_expiry ON otps (expires_at_ms);

CREATE TABLE sessions (
    agent_id      TEXT   PRIMARY KEY REFERENCES agents (id),
    session_id    TEXT   NOT NULL,
    expires_at_ms BIGINT NOT NULL
);

CREATE TABLE api_keys (
    key_id        TEXT   PRIMARY KEY,
    agent_id      TEXT   NOT NULL REFERENCES agents (id),
    key_hash      BYTEA  NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
CREATE INDEX api_keys_by_agent ON api_keys (agent_id);

CREATE TABLE operator_tokens (
    token_id      TEXT   PRIMARY KEY,
    token_hash    BYTEA  NOT NULL UNIQUE,
    role          TEXT   NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);

-- status/body are NULL while the request that claimed the key is still running.
CREATE TABLE idempotency (
    scope         TEXT   NOT NULL,
    idem_key      TEXT   NOT NULL,
    request_hash  BYTEA  NOT NULL,
    status        BIGINT,
    body          BYTEA,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
CREATE INDEX idempotency_by_creation ON idempotency (created_at_ms);

CREATE TABLE audit (
    id            BIGINT PRIMARY KEY CHECK (id >= 1),
    time_ms       BIGINT NOT NULL,
    agent_id      TEXT,
    operator      TEXT,
    endpoint      TEXT   NOT NULL,
    action        TEXT   NOT NULL,
    params        TEXT   NOT NULL,
    usd_amount    TEXT,
    token_amounts TEXT   NOT NULL,
    tx            TEXT,
    outcome       TEXT   NOT NULL,
    status        BIGINT NOT NULL,
    reason        TEXT,
    request_id    TEXT   NOT NULL,
    prev_hash     BYTEA  NOT NULL,
    hash          BYTEA  NOT NULL
);
CREATE INDEX audit_by_agent ON audit (agent_id, id);

-- The log is append-only in the database itself, not only in the code that writes it.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- Defence in depth: a buggy or hostile writer cannot leave a gap or fork the chain.
CREATE FUNCTION audit_extends_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head_id   BIGINT;
    head_hash BYTEA;
BEGIN
    SELECT id, hash INTO head_id, head_hash FROM audit ORDER BY id DESC LIMIT 1;
    IF NEW.id IS DISTINCT FROM COALESCE(head_id, 0) + 1
       OR NEW.prev_hash IS DISTINCT FROM COALESCE(head_hash, decode(repeat('00', 32), 'hex')) THEN
        RAISE EXCEPTION 'audit records must extend the chain';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER audit_extends_chain BEFORE INSERT ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_extends_chain();

CREATE TABLE audit_checkpoints (
    seq        BIGINT PRIMARY KEY,
    checkpoint TEXT   NOT NULL
);

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
