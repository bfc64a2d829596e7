-- The churn training set as a model would read it: the train and
-- validation splits, the 90-day label and a few of the features.
select
    t.split,
    t.account_key,
    t.as_of,
    t.churned_90d,
    t.sample_weight,
    t.mrr,
    t.revenue_growth_rate_3m,
    t.support_ticket_frequency_3m,
    t.payment_reliability_score_12m
from {{ source('normalize', 'churn_training_set') }} as t
where t.split in ('train', 'validation')
