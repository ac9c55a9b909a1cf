-- Crash consistency: who owns each idempotency claim and budget reservation (a server instance
-- id; NULL for rows written before this migration, or disowned), and the journal of signed
-- transactions broadcast but not yet resolved (custos_core::in_flight).
ALTER TABLE idempotency ADD COLUMN owner TEXT;
ALTER TABLE budget_reservations ADD COLUMN owner TEXT;
CREATE INDEX budget_reservations_by_status ON budget_reservations (status, created_at_ms);

CREATE TABLE in_flight_tx (
    tx_id         TEXT    PRIMARY KEY,
    reservation   TEXT    NOT NULL,
    idem_scope    TEXT,
    idem_key      TEXT,
    record        TEXT    NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX in_flight_tx_by_creation ON in_flight_tx (created_at_ms);
-- Recovery looks up the outcome record of a transaction; most records name none.
CREATE INDEX audit_by_tx ON audit (tx) WHERE tx IS NOT NULL;
