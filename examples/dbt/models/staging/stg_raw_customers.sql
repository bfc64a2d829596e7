-- The raw customers with the stable key normalize gives each: the same
-- key the normalized tables carry, computed from the raw ID as it is spelled.
select
    c.customer_id,
    normalize.normalize_id(c.customer_id::text) as customer_id_normalized,
    normalize.stable_key('account', c.customer_id::text) as account_key,
    c.tier as raw_tier,
    c.mrr as raw_mrr
from {{ source('saas_raw', 'customers') }} as c
