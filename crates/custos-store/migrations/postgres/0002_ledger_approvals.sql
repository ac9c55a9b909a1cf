-- Budget ledger and approvals, PostgreSQL. Reserved USD is NUMERIC(39,18): exactly the range
-- and precision of custos_core::Decimal, summed by the database without rounding.

-- One row per action that reserved budget. Reserved and committed rows count against the
-- agent's rolling caps; released rows do not. Reservations of one agent are serialized with a
-- transaction-scoped advisory lock.
CREATE TABLE budget_reservations (
    id              TEXT           PRIMARY KEY,
    agent_id        TEXT           NOT NULL REFERENCES agents (id),
    usd             NUMERIC(39,18) NOT NULL CHECK (usd >= 0),
    status          TEXT           NOT NULL
        CHECK (status IN ('reserved', 'committed', 'released')),
    created_at_ms   BIGINT         NOT NULL,
    committed_at_ms BIGINT,
    tx              TEXT
);
CREATE INDEX budget_reservations_by_agent ON budget_reservations (agent_id, created_at_ms);

-- Parked actions awaiting operators. approvers is a JSON array of operator names; usd an exact
-- decimal string.
CREATE TABLE approvals (
    id             TEXT   PRIMARY KEY,
    agent_id       TEXT   NOT NULL REFERENCES agents (id),
    action         TEXT   NOT NULL,
    request        TEXT   NOT NULL,
    tx_hash        TEXT   NOT NULL,
    policy_version BIGINT NOT NULL,
    usd            TEXT,
    quorum         BIGINT NOT NULL CHECK (quorum >= 1),
    created_at_ms  BIGINT NOT NULL,
    expires_at_ms  BIGINT NOT NULL,
    status         TEXT   NOT NULL
        CHECK (status IN ('pending', 'approved', 'rejected', 'expired', 'executed')),
    approvers      TEXT   NOT NULL DEFAULT '[]',
    rejected_by    TEXT
);
CREATE INDEX approvals_by_status ON approvals (status, created_at_ms, id);
CREATE INDEX approvals_by_creation ON approvals (created_at_ms, id);
