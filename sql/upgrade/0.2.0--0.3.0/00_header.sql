\echo Use "ALTER EXTENSION normalize UPDATE TO '0.3.0'" to load this file. \quit
-- normalize 0.2.0 -> 0.3.0, in development. The Makefile concatenates this
-- directory's files in name order; each part carries the new definitions
-- of what it changes (never a replay of the install files), and the whole
-- script is frozen in sql/ when 0.3.0 is released. test/upgrade.sh checks
-- that an updated database has a fresh install's catalog.
