-- Budget ledger and approvals, SQLite. USD amounts are exact decimal strings ("12.5"); the
-- store sums them in Rust with 18 fractional digits, never as floats.

-- One row per action that reserved budget. Reserved and committed rows count against the
-- agent's rolling caps; released rows do not.
CREATE TABLE budget_reservations (
    id              TEXT    PRIMARY KEY,
    agent_id        TEXT    NOT NULL REFERENCES agents (id),
    usd             TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('reserved', 'committed', 'released')),
    created_at_ms   INTEGER NOT NULL,
    committed_at_ms INTEGER,
    tx              TEXT
);
CREATE INDEX budget_reservations_by_agent ON budget_reservations (agent_id, created_at_ms);

-- Parked actions awaiting operators. approvers is a JSON array of operator names.
CREATE TABLE approvals (
    id             TEXT    PRIMARY KEY,
    agent_id       TEXT    NOT NULL REFERENCES agents (id),
    action         TEXT    NOT NULL,
    request        TEXT    NOT NULL,
    tx_hash        TEXT    NOT NULL,
    policy_version INTEGER NOT NULL,
    usd            TEXT,
    quorum         INTEGER NOT NULL CHECK (quorum >= 1),
    created_at_ms  INTEGER NOT NULL,
    expires_at_ms  INTEGER NOT NULL,
    status         TEXT    NOT NULL
        CHECK (status IN ('pending', 'approved', 'rejected', 'expired', 'executed')),
    approvers      TEXT    NOT NULL DEFAULT '[]',
    rejected_by    TEXT
);
CREATE INDEX approvals_by_status ON approvals (status, created_at_ms, id);
CREATE INDEX approvals_by_creation ON approvals (created_at_ms, id);
