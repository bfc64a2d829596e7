-- 24 months of account history, simulated per row with the extension's
-- C++ simulator: the same rows build_history() stored for the same seed.
select h.*
from {{ ref('stg_accounts') }} as a
cross join lateral normalize.generate_history(
    a.account_key, a.tier, a.mrr, {{ var('months') }}, '{{ var("as_of") }}'::date, {{ var('seed') }}, a.created_at
) as h
