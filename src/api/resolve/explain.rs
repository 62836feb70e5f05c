//! `cdp.explain_match`: why two records are or are not one person, weighed as a run weighs them.


use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::{json, Value};

use crate::api::first_one;
use crate::error::{CdpResult, OrRaise};
use crate::gucs;
use crate::normalise::Attr;
use crate::resolve::{self, Field, Model};
use super::load::*;

/// The evidence of a stored edge, `{field: level}` (`cdp.match_edges.levels` decoded, for
/// `cdp.explain_profile`).
#[pg_extern(immutable, parallel_safe)]
fn _edge_evidence(levels: Vec<Option<i16>>) -> JsonB {
    JsonB(Value::Object(
        super::write::decode_levels(&levels).into_iter().map(|(f, l)| (f.name().to_string(), json!(l))).collect(),
    ))
}

/// Why two records are (or are not) one person: per-field comparison levels and weights under
/// the current model, the total against the threshold, shared blocking keys, manual decisions.
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn _explain_match(record_a: i64, record_b: i64) -> JsonB {
    Spi::connect(|client| -> CdpResult<JsonB> {
        let loaded = load_records(
            client,
            "WHERE r.record_id OPERATOR(pg_catalog.=) ANY ($1)",
            &[vec![record_a, record_b].into()],
        )?;
        require_records(client, &[Some(record_a), Some(record_b)])?;
        // both exist (checked above, in this function's one snapshot)
        let find = |id: i64| loaded.recs.iter().position(|r| r.record_id == id).expect("a record checked to exist");
        let (ia, ib) = (find(record_a), find(record_b));
        let (a, b) = (&loaded.recs[ia], &loaded.recs[ib]);
        let (model, model_id) = match stored_model(client)? {
            Some((id, m)) => (m, Some(id)),
            None => (Model::default_model(), None),
        };
        // the pair's phones as the batch sees them: shared by several first names or not
        let phones: Vec<String> = [a, b].iter().filter_map(|r| r.get(Attr::Phone).map(str::to_string)).collect();
        let same_phone = load_records(client, "WHERE r.phone OPERATOR(pg_catalog.=) ANY ($1)", &[phones.into()])?;
        let mut group: Vec<resolve::compare::Prepared> =
            [a, b].into_iter().chain(same_phone.recs.iter().filter(|r| r.record_id != record_a && r.record_id != record_b))
                .map(resolve::compare::Prepared::new)
                .collect();
        resolve::compare::mark_shared_phones(&mut group);
        group.truncate(2);
        // hub values (placeholders, a shop's phone, shared devices) are no evidence, as in a run
        let mut keys = vec![resolve::record_keys(a), resolve::record_keys(b)];
        let hubs = known_hubs(client)?;
        let held = resolve::held_hubs(&keys, &hubs);
        resolve::apply_hubs(&mut keys, &mut group, &hubs);
        let (pa, pb) = (&group[0], &group[1]);
        let lv = resolve::compare(pa, pb);
        // an exact name weighs by how many records hold it (its frequency in the last full run)
        let tf = term_freq_for(client, &loaded)?;
        let tf_u = if lv.get(Field::Name) == Some(resolve::levels::NAME_EXACT) { tf.u(&pa.name_key) } else { None };
        let weight = model.weight_tf(&lv, tf_u);
        let tf_adjustment = weight - model.weight(&lv);
        let cfg = model.effective_config(&gucs::resolve_config());
        let round = |w: f64| (w * 100.0).round() / 100.0;
        let fields: Vec<Value> = model
            .explain(&lv)
            .into_iter()
            .map(|(f, level, w)| {
                if f == Field::Name && tf_u.is_some() {
                    json!({"field": f.name(), "level": level, "weight": round(w + tf_adjustment),
                           "records_with_name": tf.counts.get(&pa.name_key), "name_frequency_adjustment": round(tf_adjustment)})
                } else {
                    json!({"field": f.name(), "level": level, "weight": round(w)})
                }
            })
            .collect();
        let missing: Vec<&str> = Field::ALL.iter().filter(|f| lv.get(**f).is_none()).map(|f| f.name()).collect();
        let shared: Vec<&str> = keys[0].iter().filter(|k| keys[1].contains(k)).map(|(k, _)| k.name()).collect();
        let hub_values: Vec<Value> = held.iter().map(|(k, n)| json!({"key": k.name(), "records": n})).collect();
        let (lo, hi) = (record_a.min(record_b), record_a.max(record_b));
        let manual = first_one::<String>(client.select(
            "SELECT kind FROM cdp.manual_link_records WHERE record_a OPERATOR(pg_catalog.=) $1 AND record_b OPERATOR(pg_catalog.=) $2 LIMIT 1",
            Some(1),
            &[lo.into(), hi.into()],
        )?)?;
        let edge = first_one::<f64>(client.select(
            "SELECT weight FROM cdp.match_edges WHERE record_a OPERATOR(pg_catalog.=) $1 AND record_b OPERATOR(pg_catalog.=) $2",
            Some(1),
            &[lo.into(), hi.into()],
        )?)?;
        let (pa_id, pb_id) = (loaded.previous[ia], loaded.previous[ib]);
        let same_profile = pa_id.is_some() && pa_id == pb_id;
        let matched = cfg.is_match(weight);
        let pending = loaded.pending[ia] || loaded.pending[ib];
        let note = match (matched, same_profile, manual.as_deref()) {
            (_, _, Some(kind)) => format!("a steward decision ({kind}) overrides the weight"),
            _ if pending => "a record is new or changed since the last run: its profile is re-decided by the next cdp.resolve() or cdp.resolve_changes() (the worker's)".to_string(),
            (true, false, _) if pa_id.is_some() && pb_id.is_some() =>
                "the pair scores at or above the threshold, but a clustering guard keeps the records apart: cdp.max_profile_size, two different national ids, or a single weak edge between two groups (see cdp.explain_profile)".to_string(),
            (false, true, _) => "the pair scores below the threshold; the records are in one profile through other records (see cdp.explain_profile)".to_string(),
            _ => "weight is the sum of log2(m/u) per compared field; an exact name weighs by its frequency in the last full run".to_string(),
        };
        Ok(JsonB(json!({
            "record_a": record_a,
            "record_b": record_b,
            "weight": round(weight),
            "threshold": cfg.threshold,
            "decision": if matched { "match" } else { "no match" },
            "fields": fields,
            "missing_fields": missing,
            "shared_blocking_keys": shared,
            "hub_values_ignored": hub_values,
            "accepted_edge_weight": edge,
            "manual": manual,
            "profile_a": pa_id,
            "profile_b": pb_id,
            "same_profile": same_profile,
            "model_id": model_id,
            "note": note,
        })))
    })
    .or_raise()
}
