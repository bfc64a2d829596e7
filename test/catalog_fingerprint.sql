-- Everything the extension defines, one line per item, in a stable order:
-- two databases whose output is the same have the same normalize. Used to
-- check that an upgraded installation is the fresh one.
\pset format unaligned
\pset tuples_only on
SELECT line FROM (
    SELECT 'function ' || p.oid::regprocedure::text || ' ' || p.prokind::text || p.provolatile::text || p.proparallel::text
           || CASE WHEN p.proisstrict THEN ' strict' ELSE '' END || CASE WHEN p.prosecdef THEN ' definer' ELSE '' END
           || ' returns ' || pg_catalog.pg_get_function_result(p.oid)
           || ' config ' || coalesce(array_to_string(p.proconfig, ','), '')
           || ' body ' || md5(coalesce(p.prosrc, '') || coalesce(p.probin, '') || coalesce(pg_catalog.pg_get_function_sqlbody(p.oid), ''))
           || ' comment ' || coalesce(md5(obj_description(p.oid, 'pg_proc')), '-') AS line
      FROM pg_catalog.pg_proc AS p WHERE p.pronamespace = 'normalize'::regnamespace
    UNION ALL
    SELECT 'relation ' || c.relname || ' ' || c.relkind::text || ' comment ' || coalesce(md5(obj_description(c.oid, 'pg_class')), '-')
           || CASE WHEN c.relkind = 'v' THEN ' view ' || md5(pg_catalog.pg_get_viewdef(c.oid)) ELSE '' END
      FROM pg_catalog.pg_class AS c
     WHERE c.relnamespace = 'normalize'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'S', 'c')
    UNION ALL
    SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
           || coalesce(' collate ' || co.collname, '') || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
           || coalesce(' default ' || pg_catalog.pg_get_expr(d.adbin, d.adrelid), '')
           || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END
           || ' comment ' || coalesce(md5(col_description(c.oid, a.attnum)), '-')
      FROM pg_catalog.pg_attribute AS a
      JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid
      LEFT JOIN pg_catalog.pg_collation AS co ON co.oid = a.attcollation AND a.attcollation <> 100
      LEFT JOIN pg_catalog.pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE c.relnamespace = 'normalize'::regnamespace AND c.relkind IN ('r', 'v', 'c') AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'constraint ' || c.relname || ' ' || pg_catalog.pg_get_constraintdef(k.oid)
      FROM pg_catalog.pg_constraint AS k JOIN pg_catalog.pg_class AS c ON c.oid = k.conrelid
     WHERE c.relnamespace = 'normalize'::regnamespace
    UNION ALL
    SELECT 'index ' || regexp_replace(pg_catalog.pg_get_indexdef(i.indexrelid), 'INDEX \S+ ON', 'INDEX ON')
      FROM pg_catalog.pg_index AS i JOIN pg_catalog.pg_class AS c ON c.oid = i.indrelid
     WHERE c.relnamespace = 'normalize'::regnamespace
    UNION ALL
    SELECT 'trigger ' || c.relname || ' ' || regexp_replace(pg_catalog.pg_get_triggerdef(t.oid), '^CREATE TRIGGER \S+', 'CREATE TRIGGER')
      FROM pg_catalog.pg_trigger AS t JOIN pg_catalog.pg_class AS c ON c.oid = t.tgrelid
     WHERE c.relnamespace = 'normalize'::regnamespace AND NOT t.tgisinternal
    UNION ALL
    SELECT 'dumped ' || c.relname || ' ' || x.cond
      FROM pg_catalog.pg_extension AS e, unnest(e.extconfig, e.extcondition) AS x(oid, cond)
      JOIN pg_catalog.pg_class AS c ON c.oid = x.oid WHERE e.extname = 'normalize'
    UNION ALL
    SELECT 'member ' || pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid)
      FROM pg_catalog.pg_depend AS d JOIN pg_catalog.pg_extension AS e ON d.refobjid = e.oid AND d.refclassid = 'pg_extension'::regclass
     WHERE e.extname = 'normalize' AND d.deptype = 'e'
) AS f
ORDER BY line COLLATE "C";
