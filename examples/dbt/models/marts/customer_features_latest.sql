-- Each account's point-in-time features at the history's end, from the
-- feature functions, joined to its current tier.
select a.tier, f.*
from normalize.customer_features_at('{{ var("as_of") }}'::date) as f
join {{ ref('stg_accounts') }} as a using (account_key)
