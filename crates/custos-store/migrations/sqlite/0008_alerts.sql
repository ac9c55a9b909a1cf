-- Operator alerts (custos_core::alert): the outbox of alerts raised, each occurrence (its key)
-- once, with each delivery attempt's outcome.
CREATE TABLE alert_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    rule             TEXT    NOT NULL,
    alert_key        TEXT    NOT NULL UNIQUE,
    url              TEXT    NOT NULL,
    body             TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_at_ms       INTEGER NOT NULL,
    last_http_status INTEGER,
    last_error       TEXT,
    created_at_ms    INTEGER NOT NULL,
    updated_at_ms    INTEGER NOT NULL
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (status, next_at_ms);
