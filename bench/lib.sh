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
