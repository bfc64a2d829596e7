-- Registers the messy_a source built by messy_a.sql (psql variable src):
--     psql -v src=messy_a -f test/sources/messy_a_register.sql
-- Its tables keep the billing system's column names, so most are named
-- with the columns argument; the subscriptions' timestamps are read in
-- Berlin time, where the billing system runs.
\set ON_ERROR_STOP on
SELECT count(*) AS customers FROM normalize.register_source('customers', format('%I.customers', :'src')::regclass,
       '{"customer_id": "acct_no", "name": "acct_name", "tier": "plan_tier", "created_at": "signup_ts"}');
SELECT count(*) AS subscriptions FROM normalize.register_source('subscriptions', format('%I.subscriptions', :'src')::regclass,
       columns => '{"subscription_id": "sub_ref", "account_id": "acct_ref", "plan": "plan_name", "mrr": "monthly_amount",
                    "status": "state", "start_date": "started_on", "end_date": "ended_on"}',
       time_zone => 'Europe/Berlin');
SELECT count(*) AS campaigns FROM normalize.register_source('campaigns', format('%I.campaigns', :'src')::regclass,
       '{"campaign_id": "campaign_no", "account_id": "customer_ref", "name": "campaign_name", "channel": "medium",
         "budget": "spend", "start_date": "launched"}');
SELECT count(*) AS locations FROM normalize.register_source('locations', format('%I.locations', :'src')::regclass);
SELECT count(*) AS devices FROM normalize.register_source('devices', format('%I.devices', :'src')::regclass);
SELECT count(*) AS users FROM normalize.register_source('users', format('%I.users', :'src')::regclass,
       '{"user_id": "login", "account_id": "account_ref", "role": "user_role", "engagement_score": "engagement",
         "last_login": "last_seen"}');
