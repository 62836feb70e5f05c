-- Everything pg_cdp's install script leaves in a database, one line per fact, in a stable order and
-- without oids: two databases whose lines are equal have the same pg_cdp schema. Used by the
-- upgrade test to compare a database updated from an older version with a fresh install.
-- Table columns are compared by name, not position (ALTER TABLE ... ADD COLUMN appends); view
-- columns are compared in order (a view's text includes them).
WITH ext AS (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'pg_cdp'),
     ns AS (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'cdp'),
     facts(kind, name, detail) AS (
    -- membership: every object the extension owns
    SELECT 'member', pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid), ''
      FROM pg_catalog.pg_depend d, ext
     WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
    UNION ALL
    SELECT 'extension', e.extname,
           concat_ws(' ', e.extrelocatable, pg_catalog.pg_get_userbyid(e.extowner),
                     (SELECT pg_catalog.string_agg(c::regclass::text || coalesce('=' || w, ''), ',' ORDER BY c::regclass::text)
                        FROM unnest(e.extconfig, e.extcondition) AS x(c, w)))
      FROM pg_catalog.pg_extension e, ext WHERE e.oid = ext.oid
    UNION ALL
    SELECT 'schema', n.nspname,
           concat_ws(' ', pg_catalog.pg_get_userbyid(n.nspowner),
                     (SELECT pg_catalog.string_agg(a::text, ',' ORDER BY a::text) FROM pg_catalog.unnest(n.nspacl) a))
      FROM pg_catalog.pg_namespace n, ns WHERE n.oid = ns.oid
    UNION ALL
    -- relations: kind, persistence, options, row security, owner, privileges
    SELECT 'relation', c.relname,
           concat_ws(' ', c.relkind, c.relpersistence, c.reloptions::text, c.relrowsecurity, c.relforcerowsecurity,
                     c.relreplident, pg_catalog.pg_get_userbyid(c.relowner),
                     (SELECT pg_catalog.string_agg(a::text, ',' ORDER BY a::text) FROM pg_catalog.unnest(c.relacl) a),
                     pg_catalog.pg_get_expr(c.relpartbound, c.oid))
      FROM pg_catalog.pg_class c, ns WHERE c.relnamespace = ns.oid
    UNION ALL
    SELECT 'column', c.relname || '.' || a.attname,
           concat_ws(' ', pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity, a.attgenerated,
                     pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), co.collname,
                     CASE WHEN c.relkind IN ('v', 'm', 'c') THEN a.attnum::text END,
                     (SELECT pg_catalog.string_agg(x::text, ',' ORDER BY x::text) FROM pg_catalog.unnest(a.attacl) x))
      FROM pg_catalog.pg_class c JOIN ns ON c.relnamespace = ns.oid
      JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
      LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 100
     WHERE c.relkind <> 'i'
    UNION ALL
    SELECT 'constraint', c.relname || '.' || k.conname, pg_catalog.pg_get_constraintdef(k.oid)
      FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c ON c.oid = k.conrelid JOIN ns ON c.relnamespace = ns.oid
    UNION ALL
    SELECT 'constraint', t.typname || '.' || k.conname, pg_catalog.pg_get_constraintdef(k.oid)
      FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_type t ON t.oid = k.contypid JOIN ns ON t.typnamespace = ns.oid
    UNION ALL
    SELECT 'index', c.relname, pg_catalog.pg_get_indexdef(c.oid)
      FROM pg_catalog.pg_class c, ns WHERE c.relnamespace = ns.oid AND c.relkind IN ('i', 'I')
    UNION ALL
    SELECT 'view', c.relname, pg_catalog.pg_get_viewdef(c.oid, true)
      FROM pg_catalog.pg_class c, ns WHERE c.relnamespace = ns.oid AND c.relkind IN ('v', 'm')
    UNION ALL
    SELECT 'sequence', c.relname,
           concat_ws(' ', s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqcache, s.seqcycle)
      FROM pg_catalog.pg_sequence s JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid JOIN ns ON c.relnamespace = ns.oid
    UNION ALL
    SELECT 'trigger', c.relname || '.' || t.tgname, concat_ws(' ', pg_catalog.pg_get_triggerdef(t.oid), t.tgenabled)
      FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid JOIN ns ON c.relnamespace = ns.oid
     WHERE NOT t.tgisinternal
    UNION ALL
    SELECT 'rule', c.relname || '.' || r.rulename, pg_catalog.pg_get_ruledef(r.oid)
      FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class JOIN ns ON c.relnamespace = ns.oid
     WHERE r.rulename <> '_RETURN'
    UNION ALL
    SELECT 'policy', c.relname || '.' || p.polname,
           concat_ws(' ', p.polcmd, p.polpermissive, p.polroles::regrole[]::text,
                     pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))
      FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid JOIN ns ON c.relnamespace = ns.oid
    UNION ALL
    -- functions and procedures: the whole definition (language, body or C symbol, volatility,
    -- strictness, security definer, settings, cost), the owner and the privileges
    SELECT 'function', p.oid::regprocedure::text,
           concat_ws(' ', p.prokind, pg_catalog.pg_get_userbyid(p.proowner),
                     (SELECT pg_catalog.string_agg(a::text, ',' ORDER BY a::text) FROM pg_catalog.unnest(p.proacl) a),
                     CASE WHEN p.prokind IN ('f', 'p', 'w') THEN pg_catalog.pg_get_functiondef(p.oid)
                          ELSE pg_catalog.pg_get_function_result(p.oid) END)
      FROM pg_catalog.pg_proc p, ns WHERE p.pronamespace = ns.oid
    UNION ALL
    SELECT 'type', t.typname,
           concat_ws(' ', t.typtype, pg_catalog.format_type(t.typbasetype, t.typtypmod), t.typnotnull,
                     pg_catalog.pg_get_userbyid(t.typowner),
                     (SELECT pg_catalog.string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid))
      FROM pg_catalog.pg_type t, ns
     WHERE t.typnamespace = ns.oid AND t.typtype <> 'c' AND t.typelem = 0
    UNION ALL
    SELECT 'event trigger', e.evtname,
           concat_ws(' ', e.evtevent, e.evtfoid::regproc, e.evtenabled, e.evttags::text)
      FROM pg_catalog.pg_event_trigger e
      JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_event_trigger'::regclass AND d.objid = e.oid AND d.deptype = 'e'
      JOIN ext ON d.refobjid = ext.oid
    UNION ALL
    SELECT 'default acl', pg_catalog.pg_get_userbyid(a.defaclrole) || ' ' || a.defaclobjtype::text,
           (SELECT pg_catalog.string_agg(x::text, ',' ORDER BY x::text) FROM pg_catalog.unnest(a.defaclacl) x)
      FROM pg_catalog.pg_default_acl a, ns WHERE a.defaclnamespace = ns.oid
    UNION ALL
    -- comments on anything in the schema or owned by the extension
    SELECT 'comment', pg_catalog.pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description
      FROM pg_catalog.pg_description d
     WHERE d.objoid IN (SELECT oid FROM pg_catalog.pg_class WHERE relnamespace = (SELECT oid FROM ns)
                        UNION ALL SELECT oid FROM pg_catalog.pg_proc WHERE pronamespace = (SELECT oid FROM ns)
                        UNION ALL SELECT oid FROM pg_catalog.pg_type WHERE typnamespace = (SELECT oid FROM ns)
                        UNION ALL SELECT oid FROM ns
                        UNION ALL SELECT objid FROM pg_catalog.pg_depend, ext
                                   WHERE refclassid = 'pg_catalog.pg_extension'::regclass AND refobjid = ext.oid AND deptype = 'e')
)
SELECT kind || ' ' || name || ': ' || coalesce(detail, '') FROM facts ORDER BY 1
