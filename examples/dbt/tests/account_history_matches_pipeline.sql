-- The history the dbt model simulates row by row is the history the
-- pipeline stored: any difference in either direction fails.
(select account_key, month, tier, mrr, status from {{ ref('account_history') }}
 except
 select account_key, month, tier, mrr, status from {{ source('normalize', 'account_snapshots') }})
union all
(select account_key, month, tier, mrr, status from {{ source('normalize', 'account_snapshots') }}
 except
 select account_key, month, tier, mrr, status from {{ ref('account_history') }})
