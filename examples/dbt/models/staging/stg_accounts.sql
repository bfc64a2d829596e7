-- The normalized, repaired accounts, with where their revenue came from.
select
    a.account_key,
    a.tier,
    a.mrr::float8 as mrr,
    a.mrr_source,
    a.created_at
from {{ source('normalize', 'accounts') }} as a
