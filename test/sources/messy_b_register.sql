-- Registers the messy_b source built by messy_b.sql (psql variable src):
--     psql -v src=messy_b -f test/sources/messy_b_register.sql
-- Every column keeps the CRM's CamelCase name, so every table is
-- registered with the columns argument. The customers are stamped in New
-- York time and the subscriptions in Tokyo time: their timestamptz columns
-- are read as dates there.
\set ON_ERROR_STOP on
SELECT count(*) AS customers FROM normalize.register_source('customers', format('%I.customers', :'src')::regclass,
       columns => '{"customer_id": "Id", "name": "AccountName", "tier": "Segment", "mrr": "MRR__c",
                    "industry": "Industry", "country": "BillingCountry", "created_at": "CreatedDate",
                    "snapshot_date": "SnapshotTs"}',
       time_zone => 'America/New_York');
SELECT count(*) AS subscriptions FROM normalize.register_source('subscriptions', format('%I.subscriptions', :'src')::regclass,
       columns => '{"subscription_id": "SubscriptionId", "account_id": "AccountId", "plan": "Plan", "status": "Status",
                    "mrr": "MRR", "start_date": "StartDate", "snapshot_date": "SnapshotTs"}',
       time_zone => 'Asia/Tokyo');
SELECT count(*) AS locations FROM normalize.register_source('locations', format('%I.locations', :'src')::regclass,
       '{"location_id": "SiteId", "account_id": "AccountId", "name": "SiteName", "city": "City", "country": "Country"}');
SELECT count(*) AS devices FROM normalize.register_source('devices', format('%I.devices', :'src')::regclass,
       '{"device_id": "DeviceId", "account_id": "AccountId", "location_id": "SiteId", "device_type": "Model",
         "status": "State", "health_score": "Health", "uptime": "UptimePct", "snapshot_date": "SnapshotTs"}');
SELECT count(*) AS users FROM normalize.register_source('users', format('%I.users', :'src')::regclass,
       '{"user_id": "UserId", "account_id": "AccountId", "role": "Profile", "engagement_score": "EngagementScore",
         "last_login": "LastLoginTs", "snapshot_date": "SnapshotTs"}');
SELECT count(*) AS campaigns FROM normalize.register_source('campaigns', format('%I.campaigns', :'src')::regclass,
       '{"campaign_id": "CampaignId", "account_id": "AccountId", "channel": "Channel", "budget": "Budget",
         "start_date": "StartDate"}');
