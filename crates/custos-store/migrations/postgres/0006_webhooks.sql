-- Status webhooks (custos_core::webhook): one endpoint per agent, the outbox of deliveries with
-- each attempt's outcome, and how far the audit log has been turned into events.
CREATE TABLE webhooks (
    agent_id      TEXT   PRIMARY KEY REFERENCES agents (id),
    url           TEXT   NOT NULL,
    key_id        TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE TABLE webhook_cursor (
    id       BIGINT PRIMARY KEY CHECK (id = 1),
    audit_id BIGINT NOT NULL
);
CREATE TABLE webhook_deliveries (
    id               BIGSERIAL PRIMARY KEY,
    agent_id         TEXT   NOT NULL,
    event_id         BIGINT NOT NULL,
    url              TEXT   NOT NULL,
    body             TEXT   NOT NULL,
    status           TEXT   NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_at_ms       BIGINT NOT NULL,
    last_http_status BIGINT,
    last_error       TEXT,
    created_at_ms    BIGINT NOT NULL,
    updated_at_ms    BIGINT NOT NULL,
    UNIQUE (agent_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_at_ms);
CREATE INDEX webhook_deliveries_by_agent ON webhook_deliveries (agent_id, id);
