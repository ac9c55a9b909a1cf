-- A reservation's sub-budget (custos_core::Bucket): x402 payments count per paid site as well as
-- against the agent's caps. NULL: none.
ALTER TABLE budget_reservations ADD COLUMN bucket TEXT;
CREATE INDEX budget_reservations_bucket ON budget_reservations (agent_id, bucket, created_at_ms);
