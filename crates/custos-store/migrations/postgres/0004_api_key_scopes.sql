-- Capability scopes of an API key (custos_core::scope), space-separated; NULL: every scope (keys
-- created without a list, and every key created before scopes existed).
ALTER TABLE api_keys ADD COLUMN scopes TEXT;
