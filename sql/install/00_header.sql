-- normalize install script, assembled by the Makefile from sql/install/*.sql
-- in name order (one file per plan phase).
\echo Use "CREATE EXTENSION normalize" to load this file. \quit
