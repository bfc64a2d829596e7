-- Phase 3 of the plan: history. The account simulator (C++) as a
-- set-returning function, deterministic in (seed, account key), so it can be
-- called over a whole table or per row with CROSS JOIN LATERAL.

CREATE FUNCTION @extschema@.generate_history(
    account_key text,
    tier text,
    mrr float8,
    months integer DEFAULT 24,
    as_of date DEFAULT CURRENT_DATE,
    seed bigint DEFAULT 42,
    created_at date DEFAULT NULL,
    growth float8 DEFAULT 0.01,
    seasonality float8 DEFAULT 0.03)
RETURNS TABLE (account_key text, month date, tier text, mrr float8, seats integer, active_users integer,
               support_tickets integer, late_payments integer, failed_payments integer, status text,
               event text)
AS 'MODULE_PATHNAME', 'nz_generate_history'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.generate_history(text, text, float8, integer, date, bigint, date, float8, float8) IS
    'Monthly history of one account ending at as_of in its current tier and revenue (unless it churns): upgrades, downgrades, growth with seasonality, seats, active users, tickets, payments, and churn from the tier''s annual band moved by latent health';
