-- The keyed generators: for every account, a reproducible draw of what its
-- revenue would be in each tier, from the plan's profiles (same key and
-- seed, same value, in any query).
select
    a.account_key,
    a.tier,
    a.mrr,
    normalize.draw('mrr_tier_1', a.account_key, {{ var('seed') }}) as mrr_if_tier_1,
    normalize.draw('mrr_tier_2', a.account_key, {{ var('seed') }}) as mrr_if_tier_2,
    normalize.draw('mrr_tier_3', a.account_key, {{ var('seed') }}) as mrr_if_tier_3,
    normalize.draw('mrr_tier_4', a.account_key, {{ var('seed') }}) as mrr_if_tier_4
from {{ ref('stg_accounts') }} as a
