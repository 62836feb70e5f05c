# Shared helpers of the bench scripts (sourced).
source "$(dirname "${BASH_SOURCE[0]}")/../.ci/env"
psql_() { "$REPO/.ci/cluster" psql -X -q -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }

# Pairwise accuracy of a clustering against demo.truth. $1: a query of (cluster, person) per
# record. Prints: precision recall F1 people-split profiles-mixed clusters.
pair_metrics() {
    psql_ -At -F ' ' -c "
WITH m AS ($1),
 pp AS (SELECT sum(n * (n - 1) / 2)::numeric AS v FROM (SELECT count(*) n FROM m GROUP BY cluster) x),
 tp AS (SELECT sum(n * (n - 1) / 2)::numeric AS v FROM (SELECT count(*) n FROM m GROUP BY person) x),
 bp AS (SELECT sum(n * (n - 1) / 2)::numeric AS v FROM (SELECT count(*) n FROM m GROUP BY cluster, person) x),
 sp AS (SELECT avg((c > 1)::int) AS v FROM (SELECT count(DISTINCT cluster) c FROM m GROUP BY person) x),
 mg AS (SELECT avg((c > 1)::int) AS v FROM (SELECT count(DISTINCT person) c FROM m GROUP BY cluster) x)
SELECT round(bp.v / pp.v, 4), round(bp.v / tp.v, 4), round(2 * bp.v / (pp.v + tp.v), 4),
       round(sp.v, 4), round(mg.v, 4), (SELECT count(DISTINCT cluster) FROM m)
  FROM pp, tp, bp, sp, mg"
}

# (cluster, person) of every pg_cdp record with a truth row (a record not resolved yet counts as
# a profile of its own).
CDP_CLUSTERS="SELECT coalesce(r.profile_id, -r.record_id) AS cluster, t.person_id AS person FROM cdp.records r JOIN cdp.sources s USING (source_id) JOIN demo.truth t ON t.source_table = s.source_table::text AND t.source_key = r.source_key"

# Changes as applications make them, in one transaction on the generated channel tables: $1 new
# web sign-ups of known people (copies of their call-centre contact, with truth rows), $2 store
# customers who moved and changed phone number, $3 call-centre contacts deleted.
apply_changes() {
psql_ -1 <<SQL >/dev/null
    SET client_min_messages = warning;
    CREATE TEMP TABLE copied AS
    SELECT 900000000 + row_number() OVER (ORDER BY pg_catalog.hashtext(c.contact_id::text || 'i')) AS signup_id, c.*
      FROM demo.call_center_contacts c
     ORDER BY pg_catalog.hashtext(c.contact_id::text || 'i') LIMIT $1;
    INSERT INTO demo.web_signups (signup_id, email, full_name, phone, birth_date, city, signed_up_at)
    SELECT signup_id, email, caller_name, phone, dob, NULL, now() FROM copied;
    INSERT INTO demo.truth (source_table, source_key, person_id)
    SELECT 'demo.web_signups', k.signup_id::text, t.person_id
      FROM copied k JOIN demo.truth t ON t.source_table = 'demo.call_center_contacts' AND t.source_key = k.contact_id::text;
    UPDATE demo.store_customers
       SET phone = '0532 ' || lpad((abs(pg_catalog.hashtext(customer_no || 'p')) % 10000000)::text, 7, '0'),
           street = 'Yeni Sokak No: ' || (abs(pg_catalog.hashtext(customer_no)) % 200 + 1), postcode = '35000', city = 'İzmir'
     WHERE customer_no IN (SELECT customer_no FROM demo.store_customers ORDER BY pg_catalog.hashtext(customer_no || 'u') LIMIT $2);
    DELETE FROM demo.call_center_contacts
     WHERE contact_id IN (SELECT contact_id FROM demo.call_center_contacts
                           WHERE contact_id NOT IN (SELECT contact_id FROM copied)
                           ORDER BY pg_catalog.hashtext(contact_id::text || 'd') LIMIT $3);
SQL
}
