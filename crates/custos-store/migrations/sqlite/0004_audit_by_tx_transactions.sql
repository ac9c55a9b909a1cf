-- `audit_by_tx` serves lookups of chain transactions (recovery, `GET /v1/wallets/me/transactions/{tx}`).
-- A signed message's record names its signature in `tx` too, but a message is not a transaction
-- and is never looked up as one; leaving it out of the index spares every message signature a
-- write to a random index page (a WAL frame more in its synchronous commit).
DROP INDEX audit_by_tx;
CREATE INDEX audit_by_tx ON audit (tx)
    WHERE tx IS NOT NULL AND json_extract(params, '$.chain') IS NOT 'message';
