-- Raw subscription references, read with normalize's ID functions: the
-- number in the reference, and the offset rule suggest_id_rules() finds.
select
    s.subscription_id,
    s.account_id as raw_account_ref,
    normalize.id_number(s.account_id::text) as account_number,
    s.mrr,
    s.status
from {{ source('saas_raw', 'subscriptions') }} as s
