//! The CDS vocabulary of the datasets served, and CDS requests turned into one `subset`
//! job: the words of each request key come from the catalog's DRS facets through the
//! tables and rules of `capabilities/data/cds.json` (only words of datasets that exist
//! are offered); a request selects the datasets matching all its keys (the latest
//! version of each) and becomes the subset inputs (`collection`, `time`,
//! `time_components`, `area` W,S,E,N, `level` in the dataset's units). In a collection
//! of climate indices, the index key picks the index (and so the variables read) and
//! the request becomes one `climate_index` job.

use super::CdsError;
use crate::access::Access;
use crate::state::AppState;
use cirrus_capabilities::cds::{lower_underscore, Collection, IndexKeys};
use cirrus_ops::catalog::Summary;
use cirrus_ops::process::params::{Area, TimeComponents, TimeParam};
use cirrus_ops::Catalog;
use serde_json::{json, Map, Value};
use sha2::Digest;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::SystemTime;

/// A catalog dataset of a collection, with its CDS words.
#[derive(Clone)]
pub struct Item {
    pub dataset: Summary,
    /// The catalog it is from (for its full description).
    pub catalog: Arc<Catalog>,
    /// The id without its version.
    pub base: String,
    pub version: String,
    /// The CDS word of each key of the collection (in the order of `Collection::keys`).
    pub words: Vec<String>,
    /// The DRS value (part) each key looks at, accepted as an alias of the word.
    pub raw: Vec<String>,
    /// First and last time (`2015-01-16T12:00:00`).
    pub time: Option<(String, String)>,
    pub bbox: Option<[f64; 4]>,
}

impl Item {
    pub fn id(&self) -> &str {
        &self.dataset.id
    }

    fn matches(&self, key: usize, value: &str) -> bool {
        self.words[key] == value || self.raw[key].eq_ignore_ascii_case(value)
    }
}

pub use cirrus_ops::process::select::PressureLevels as Levels;

/// The datasets of a collection in the current catalog.
pub fn items(access: &Access, c: &Collection) -> Vec<Item> {
    let catalog = &access.catalog;
    let mut out = Vec::new();
    for entry in catalog.summaries.values() {
        let ds = entry;
        if ds.facets.is_empty() || !c.selects(&ds.facets) {
            continue;
        }
        let long_name = ds.long_name.clone();
        let mut words = Vec::with_capacity(c.keys.len());
        let mut raw = Vec::with_capacity(c.keys.len());
        let mut complete = true;
        for k in &c.keys {
            match ds.facet(&k.facet) {
                Some(v) => {
                    words.push(k.word(v, long_name.as_deref()));
                    raw.push(k.value_part(v).to_string());
                }
                None => complete = false,
            }
        }
        if !complete {
            continue;
        }
        let version = ds.facet("version").unwrap_or_default().to_string();
        let base =
            ds.facets.iter().filter(|(k, _)| k != "version").map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(".");
        out.push(Item {
            dataset: ds.clone(),
            catalog: catalog.clone(),
            base,
            version,
            words,
            raw,
            time: entry.extent.time.as_ref().map(|t| (t.start.clone(), t.end.clone())),
            bbox: entry.extent.bbox,
        });
    }
    out
}

/// The newest version first: `latest` beats any dated version.
fn version_rank(v: &str) -> (bool, &str) {
    (v.eq_ignore_ascii_case("latest"), v)
}

/// A number as users write it (`500`, `-10.5`).
pub fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The pressure levels of a dataset (cached by dataset version in the engine).
pub fn levels(st: &AppState, it: &Item) -> Option<Levels> {
    let e = it.catalog.detail(&it.dataset).ok()?;
    st.engine.pressure_levels(&e.dataset)
}

/// The values of a request key as strings (a string, a number, or a list of them).
pub fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Null => vec![],
        Value::String(s) => vec![s.trim().to_string()],
        Value::Number(n) => vec![n.to_string()],
        Value::Bool(b) => vec![b.to_string()],
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        Value::Object(_) => vec![v.to_string()],
    }
}

/// Letters and digits only, lowercase: `ssp1-2_6` and `ssp1_2_6` are alike.
fn skeleton(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

fn invalid(key: &str, value: &str, valid: &BTreeSet<String>) -> CdsError {
    let hint = valid
        .iter()
        .find(|w| skeleton(w) == skeleton(value) || lower_underscore(w) == lower_underscore(value))
        .map(|w| format!(" (did you mean '{w}'?)"))
        .unwrap_or_default();
    CdsError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        valid: valid.iter().cloned().collect::<Vec<_>>().join(", "),
        hint,
    }
}

/// A request with its values checked against the datasets of the collection.
struct Choices<'a> {
    items: &'a [Item],
    /// Values given for each key (None: not given).
    chosen: Vec<Option<Vec<String>>>,
}

impl Choices<'_> {
    /// Items matching every given key, except key `skip`.
    fn matching(&self, skip: Option<usize>) -> Vec<&Item> {
        self.items
            .iter()
            .filter(|it| {
                self.chosen.iter().enumerate().all(|(i, c)| {
                    Some(i) == skip || c.as_ref().is_none_or(|vals| vals.iter().any(|v| it.matches(i, v)))
                })
            })
            .collect()
    }

    /// The words of key `i` among the items that match the other keys.
    fn alternatives(&self, i: usize) -> BTreeSet<String> {
        self.matching(Some(i)).iter().map(|it| it.words[i].clone()).collect()
    }
}

fn check_keys<'a>(c: &Collection, items: &'a [Item], request: &Map<String, Value>) -> Result<Choices<'a>, CdsError> {
    let mut known: Vec<&str> = c.keys.iter().map(|k| k.name.as_str()).collect();
    known.extend(c.time_keys.iter().map(String::as_str));
    known.extend(c.level.iter().map(|l| l.name.as_str()));
    known.extend(c.index.iter().flat_map(|ix| [ix.key.as_str(), ix.period_key.as_str(), ix.base_key.as_str()]));
    known.extend(["area", "format", "data_format"]);
    for k in request.keys() {
        if !known.contains(&k.as_str()) {
            return Err(CdsError::UnknownKey { key: k.clone(), collection: c.id.clone(), known: known.join(", ") });
        }
    }
    if items.is_empty() {
        return Err(CdsError::Empty(format!("no dataset of collection '{}' is served here at the moment", c.id)));
    }
    let mut chosen = Vec::with_capacity(c.keys.len());
    for (i, k) in c.keys.iter().enumerate() {
        let vals = request.get(&k.name).map(strings).unwrap_or_default();
        if vals.is_empty() {
            chosen.push(None);
            continue;
        }
        let valid: BTreeSet<String> = items.iter().map(|it| it.words[i].clone()).collect();
        for v in &vals {
            if !items.iter().any(|it| it.matches(i, v)) {
                return Err(invalid(&k.name, v, &valid));
            }
        }
        chosen.push(Some(vals));
    }
    Ok(Choices { items, chosen })
}

/// For each key, the words still possible given the other keys of the request (the
/// CDS "constraints"). Values that do not exist are an error, as in a request.
pub fn constraints(
    st: &AppState,
    access: &Access,
    c: &Collection,
    request: &Map<String, Value>,
) -> Result<Map<String, Value>, CdsError> {
    let mut all = items(access, c);
    if let Some(ix) = &c.index {
        if request.contains_key(&ix.key) {
            let choice = index_choice(ix, request)?;
            all.retain(|it| choice.reads(it));
        }
    }
    let choices = check_keys(c, &all, request)?;
    let mut out = Map::new();
    for (i, k) in c.keys.iter().enumerate() {
        out.insert(k.name.clone(), json!(choices.alternatives(i)));
    }
    if let Some(ix) = &c.index {
        let matching = choices.matching(None);
        let served: BTreeSet<&str> = matching.iter().filter_map(|it| variable(it)).collect();
        let words: Vec<&String> = ix
            .table
            .iter()
            .filter(|(_, name)| index_inputs(name).is_some_and(|vars| vars.iter().all(|v| served.contains(v))))
            .map(|(w, _)| w)
            .collect();
        out.insert(ix.key.clone(), json!(words));
        out.insert(ix.period_key.clone(), json!(ix.periods.keys().collect::<Vec<_>>()));
    }
    if let Some(lk) = &c.level {
        let mut words = BTreeSet::new();
        let mut hpa: Vec<f64> = Vec::new();
        for it in choices.matching(None) {
            for l in levels(st, it).map(|l| l.hpa).unwrap_or_default() {
                if words.insert(number(l)) {
                    hpa.push(l);
                }
            }
        }
        hpa.sort_by(|a, b| b.total_cmp(a));
        out.insert(lk.name.clone(), json!(hpa.iter().map(|l| number(*l)).collect::<Vec<_>>()));
    }
    out.insert("format".into(), json!(c.formats));
    Ok(out)
}

/// The variable a dataset holds (its DRS facet).
fn variable(it: &Item) -> Option<&str> {
    it.dataset.facet("variable_id").or_else(|| it.dataset.facet("variable"))
}

/// The variables an index reads (`None`: not an index cirrus computes).
fn index_inputs(name: &str) -> Option<Vec<&'static str>> {
    cirrus_ops::process::indices::compute::find(name).map(|ix| ix.inputs.iter().map(|i| i.name()).collect())
}

/// The index and the periods a request of a collection of indices asks for.
struct IndexChoice {
    name: String,
    slice_mode: String,
    vars: Vec<&'static str>,
    /// `start/end` of a percentile index's base period.
    base: Option<String>,
}

impl IndexChoice {
    /// True when the index reads the dataset's variable.
    fn reads(&self, it: &Item) -> bool {
        variable(it).is_some_and(|v| self.vars.contains(&v))
    }
}

fn index_choice(ix: &IndexKeys, request: &Map<String, Value>) -> Result<IndexChoice, CdsError> {
    let words: BTreeSet<String> = ix.table.keys().cloned().collect();
    let word = one_value(request, &ix.key)?.ok_or_else(|| CdsError::MissingKey {
        key: ix.key.clone(),
        valid: words.iter().cloned().collect::<Vec<_>>().join(", "),
    })?;
    // the CDS word, or the index name itself (`SU`)
    let name = ix
        .table
        .get(&word)
        .or_else(|| ix.table.values().find(|n| n.eq_ignore_ascii_case(&word)))
        .ok_or_else(|| invalid(&ix.key, &word, &words))?;
    let vars = index_inputs(name).ok_or_else(|| CdsError::Internal(format!("index '{name}' is not computed")))?;
    let period = one_value(request, &ix.period_key)?.unwrap_or_else(|| ix.default_period.clone());
    let slice_mode = ix
        .periods
        .get(&period)
        .ok_or_else(|| invalid(&ix.period_key, &period, &ix.periods.keys().cloned().collect()))?;
    let needs_base = cirrus_ops::process::indices::compute::find(name).is_some_and(|i| i.kind.needs_base());
    let base = match (one_value(request, &ix.base_key)?, needs_base) {
        (None, true) => {
            return Err(CdsError::MissingKey {
                key: ix.base_key.clone(),
                valid: format!("a base period of years for the percentiles of '{word}', e.g. 1981-2010"),
            })
        }
        (Some(_), false) => {
            return Err(CdsError::Invalid(format!("'{word}' is not a percentile index: it takes no {}", ix.base_key)))
        }
        (Some(b), true) => Some(base_range(&ix.base_key, &b)?),
        (None, false) => None,
    };
    Ok(IndexChoice { name: name.clone(), slice_mode: slice_mode.clone(), vars, base })
}

/// `1981-2010` (years) or `1981-01-01/2010-12-31` → `start/end`.
fn base_range(key: &str, v: &str) -> Result<String, CdsError> {
    let years: Vec<&str> = v.split(['-', '_']).collect();
    let range = match years.as_slice() {
        [a, b] if a.len() == 4 && b.len() == 4 && a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok() => {
            format!("{a}-01-01/{b}-12-31")
        }
        _ => date_range(v),
    };
    TimeParam::parse(&range).map_err(|e| CdsError::Invalid(format!("{key} '{v}': {e} (e.g. 1981-2010)")))?;
    Ok(range)
}

/// A request turned into the inputs of one job.
#[derive(Debug)]
pub struct Resolved {
    /// `subset`, or `climate_index` for a collection of indices.
    pub process: &'static str,
    /// The process inputs.
    pub inputs: Map<String, Value>,
    pub format: String,
    /// SHA-256 of the inputs and the dataset versions: identical requests share results.
    pub hash: String,
    /// Lines for the job log (with their level prefix).
    pub notes: Vec<String>,
}

/// `2015-01-01/2020-12-31`, `20150101/20201231` or one date → `start/end`.
fn date_range(s: &str) -> String {
    let norm = |p: &str| {
        let p = p.trim();
        if p.len() == 8 && p.bytes().all(|b| b.is_ascii_digit()) {
            format!("{}-{}-{}", &p[..4], &p[4..6], &p[6..])
        } else if p.len() == 6 && p.bytes().all(|b| b.is_ascii_digit()) {
            format!("{}-{}", &p[..4], &p[4..])
        } else {
            p.to_string()
        }
    };
    match s.split_once('/') {
        Some((a, b)) => format!("{}/{}", norm(a), norm(b)),
        None => format!("{}/{}", norm(s), norm(s)),
    }
}

/// The first and last day a `start/end` range may cover, as comparable text.
fn range_days(time: &str) -> (String, String) {
    let (a, b) = time.split_once('/').unwrap_or((time, time));
    let pad = |s: &str, fill: &str| {
        let s = s.trim();
        if s.is_empty() {
            fill.to_string()
        } else if s.len() >= 10 {
            s[..10].to_string()
        } else {
            format!("{s}{}", &fill[s.len()..])
        }
    };
    (pad(a, "0000-01-01"), pad(b, "9999-12-31"))
}

fn one_value(request: &Map<String, Value>, key: &str) -> Result<Option<String>, CdsError> {
    match request.get(key).map(strings).as_deref() {
        None | Some([]) => Ok(None),
        Some([one]) => Ok(Some(one.clone())),
        Some(more) => Err(CdsError::Invalid(format!("'{key}' takes one value, not {}", more.len()))),
    }
}

fn time_inputs(request: &Map<String, Value>) -> Result<(Option<String>, Option<String>), CdsError> {
    let mut time = None;
    if let Some(v) = request.get("date") {
        match strings(v).as_slice() {
            [] => {}
            [one] => time = Some(date_range(one)),
            _ => {
                return Err(CdsError::Invalid(
                    "'date' must be one range start/end, e.g. \"2015-01-01/2020-12-31\" (use year/month/day lists for separate periods)".into(),
                ))
            }
        }
    }
    let (sy, ey) = (one_value(request, "start_year")?, one_value(request, "end_year")?);
    if sy.is_some() || ey.is_some() {
        if time.is_some() {
            return Err(CdsError::Invalid("give either 'date' or 'start_year'/'end_year', not both".into()));
        }
        for (k, v) in [("start_year", &sy), ("end_year", &ey)] {
            if let Some(y) = v {
                if y.len() != 4 || y.parse::<u32>().is_err() {
                    return Err(CdsError::Invalid(format!("'{k}' must be a year like 2021, not '{y}'")));
                }
            }
        }
        time = Some(format!("{}/{}", sy.unwrap_or_default(), ey.unwrap_or_default()));
    }
    if let Some(t) = &time {
        TimeParam::parse(t).map_err(|e| CdsError::Invalid(format!("date '{t}': {e}")))?;
    }
    let mut parts = Vec::new();
    for k in ["year", "month", "day"] {
        let vals = request.get(k).map(strings).unwrap_or_default();
        if !vals.is_empty() {
            parts.push(format!("{k}:{}", vals.join(",")));
        }
    }
    let comps = (!parts.is_empty()).then(|| parts.join("|"));
    if let Some(tc) = &comps {
        TimeComponents::parse(tc).map_err(|e| CdsError::Invalid(e.to_string()))?;
    }
    Ok((time, comps))
}

fn area_input(v: &Value) -> Result<Option<String>, CdsError> {
    let usage = "'area' must be [North, West, South, East] in degrees, e.g. [60, -10, 40, 10]";
    let parts: Vec<String> = match v {
        Value::Null => return Ok(None),
        Value::String(s) => s.split(['/', ',', ' ']).filter(|p| !p.is_empty()).map(str::to_string).collect(),
        other => strings(other),
    };
    if parts.is_empty() {
        return Ok(None);
    }
    if parts.len() != 4 {
        return Err(CdsError::Invalid(format!("{usage}; {} values were given", parts.len())));
    }
    let n: Vec<f64> = parts
        .iter()
        .map(|p| p.trim().parse::<f64>().ok().filter(|f| f.is_finite()))
        .collect::<Option<_>>()
        .ok_or_else(|| CdsError::Invalid(format!("{usage}; '{}' has a value that is not a number", parts.join("/"))))?;
    let (north, west, south, east) = (n[0], n[1], n[2], n[3]);
    let wsen = format!("{},{},{},{}", number(west), number(south), number(east), number(north));
    Area::parse(&wsen).map_err(|e| CdsError::Invalid(format!("{usage}: {e}")))?;
    Ok(Some(wsen))
}

/// Turn a CDS request into the inputs of one subset job.
pub fn resolve(
    st: &AppState,
    access: &Access,
    c: &Collection,
    request: &Map<String, Value>,
) -> Result<Resolved, CdsError> {
    let mut all = items(access, c);
    let index = c.index.as_ref().map(|ix| index_choice(ix, request)).transpose()?;
    if let Some(choice) = &index {
        all.retain(|it| choice.reads(it));
        if all.is_empty() {
            return Err(CdsError::Empty(format!(
                "{} needs daily {}; no such dataset of collection '{}' is served here at the moment",
                choice.name,
                choice.vars.join(" and "),
                c.id
            )));
        }
    }
    let choices = check_keys(c, &all, request)?;
    for (i, k) in c.keys.iter().enumerate() {
        if k.required && choices.chosen[i].is_none() {
            return Err(CdsError::MissingKey {
                key: k.name.clone(),
                valid: choices.alternatives(i).into_iter().collect::<Vec<_>>().join(", "),
            });
        }
    }
    let selected = choices.matching(None);
    if selected.is_empty() {
        let given: Vec<String> = c
            .keys
            .iter()
            .zip(&choices.chosen)
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{}={}", k.name, v.join("|"))))
            .collect();
        let mut alternatives = Vec::new();
        for (i, k) in c.keys.iter().enumerate() {
            if choices.chosen[i].is_some() {
                let alt = choices.alternatives(i);
                if !alt.is_empty() {
                    alternatives.push(format!("{}: {}", k.name, alt.into_iter().collect::<Vec<_>>().join(", ")));
                }
            }
        }
        let hint = if alternatives.is_empty() {
            String::new()
        } else {
            format!(". Keeping the other choices, these values exist: {}", alternatives.join("; "))
        };
        return Err(CdsError::Empty(format!("no dataset matches {}{hint}", given.join(", "))));
    }
    // the latest version of each dataset
    let mut latest: Vec<&Item> = Vec::new();
    for it in selected {
        match latest.iter_mut().find(|l| l.base == it.base) {
            Some(l) if version_rank(&it.version) > version_rank(&l.version) => *l = it,
            Some(_) => {}
            None => latest.push(it),
        }
    }
    let mut notes = Vec::new();
    let (time, comps) = time_inputs(request)?;
    // datasets without data in the period are left out; none left is an empty selection
    let years: Option<Vec<i64>> =
        request.get("year").map(|v| strings(v).iter().filter_map(|y| y.parse().ok()).collect());
    let mut kept = Vec::new();
    let mut coverage = Vec::new();
    for it in latest {
        let Some((start, end)) = &it.time else {
            kept.push(it);
            continue;
        };
        let (first, last) = (&start[..start.len().min(10)], &end[..end.len().min(10)]);
        let in_range =
            time.as_deref().map(range_days).is_none_or(|(lo, hi)| lo.as_str() <= last && hi.as_str() >= first);
        let year = |s: &str| s.get(..4).and_then(|y| y.parse::<i64>().ok()).unwrap_or(0);
        let in_years = years.as_ref().is_none_or(|ys| ys.iter().any(|y| (year(start)..=year(end)).contains(y)));
        if in_range && in_years {
            kept.push(it);
        } else {
            coverage.push(format!("{} covers {first} to {last}", it.id()));
        }
    }
    if kept.is_empty() {
        let period = [time.clone(), comps.clone()].into_iter().flatten().collect::<Vec<_>>().join(" with ");
        return Err(CdsError::Empty(format!("no data in the requested period {period}: {}", coverage.join("; "))));
    }
    for c in &coverage {
        notes.push(format!("WARNING: left out, no data in the requested period: {c}"));
    }
    let mut inputs = Map::new();
    if let Some(t) = &time {
        inputs.insert("time".into(), json!(t));
    }
    if let Some(tc) = &comps {
        inputs.insert("time_components".into(), json!(tc));
    }
    if let Some(a) = request.get("area").map(area_input).transpose()?.flatten() {
        inputs.insert("area".into(), json!(a));
    }
    if let Some(lk) = &c.level {
        let vals: Vec<String> = request
            .get(&lk.name)
            .map(strings)
            .unwrap_or_default()
            .into_iter()
            .filter(|v| !lk.ignore.iter().any(|i| i.eq_ignore_ascii_case(v)))
            .collect();
        if !vals.is_empty() {
            inputs.insert(lk.name.clone(), json!(level_input(st, c, &lk.name, &vals, &kept)?));
        }
    }
    let format = match (one_value(request, "format")?, one_value(request, "data_format")?) {
        (Some(a), Some(b)) if !a.eq_ignore_ascii_case(&b) => {
            return Err(CdsError::Invalid(format!("'format' is '{a}' but 'data_format' is '{b}': give one")))
        }
        (Some(f), _) | (None, Some(f)) => f.to_ascii_lowercase(),
        (None, None) => c.default_format.clone(),
    };
    if !c.formats.contains(&format) {
        return Err(invalid("format", &format, &c.formats.iter().cloned().collect()));
    }
    let mut process = "subset";
    if let Some(choice) = &index {
        // one dataset per variable the index reads
        for v in &choice.vars {
            let of_v: Vec<&str> = kept.iter().filter(|it| variable(it) == Some(v)).map(|it| it.id()).collect();
            match of_v.len() {
                1 => {}
                0 => {
                    return Err(CdsError::Empty(format!(
                        "{} needs daily {v}, and no {v} dataset matches the request",
                        choice.name
                    )))
                }
                n => {
                    return Err(CdsError::Invalid(format!(
                        "the request selects {n} {v} datasets ({}); an index is computed from one: choose one model, experiment and ensemble_member",
                        of_v.join(", ")
                    )))
                }
            }
        }
        inputs.insert("index_name".into(), json!(choice.name));
        inputs.insert("slice_mode".into(), json!(choice.slice_mode));
        if let Some(b) = &choice.base {
            inputs.insert("base_period_time_range".into(), json!(b));
        }
        process = "climate_index";
    }
    let ids: Vec<String> = kept.iter().map(|it| it.id().to_string()).collect();
    inputs.insert("collection".into(), json!(ids.join(",")));
    let etags: Vec<Value> = kept.iter().map(|it| json!([it.id(), it.dataset.etag])).collect();
    let canonical = json!({"process": process, "inputs": inputs, "datasets": etags}).to_string();
    let hash = format!("{:x}", sha2::Sha256::digest(canonical.as_bytes()));
    notes.insert(0, format!("INFO: the request selects {} dataset(s): {}", ids.len(), ids.join(", ")));
    Ok(Resolved { process, inputs, format, hash, notes })
}

/// Levels in hPa → the `level` input in the units of the datasets' vertical coordinate.
fn level_input(st: &AppState, c: &Collection, key: &str, vals: &[String], items: &[&Item]) -> Result<String, CdsError> {
    let variable = c.keys.iter().position(|k| k.name == "variable");
    let mut per_hpa = None;
    for it in items {
        let what = variable.map_or_else(|| it.id().to_string(), |i| format!("{} of {}", it.words[i], it.id()));
        let lv = levels(st, it).ok_or_else(|| {
            CdsError::Invalid(format!(
                "{what} has no pressure levels to select (it is on single levels or on model levels): leave out '{key}'"
            ))
        })?;
        let valid: BTreeSet<String> = lv.hpa.iter().map(|l| number(*l)).collect();
        for v in vals {
            let x: f64 = v.parse().map_err(|_| invalid(key, v, &valid))?;
            if !lv.hpa.iter().any(|l| (l - x).abs() <= 1e-6 * x.abs().max(1.0)) {
                return Err(invalid(key, v, &valid));
            }
        }
        match per_hpa {
            Some(p) if p != lv.per_hpa => {
                return Err(CdsError::Invalid(
                    "the datasets selected give their levels in different units; request them separately".into(),
                ))
            }
            _ => per_hpa = Some(lv.per_hpa),
        }
    }
    let p = per_hpa.unwrap_or(1.0);
    let out: Vec<String> = vals.iter().filter_map(|v| v.parse::<f64>().ok()).map(|x| number(x * p)).collect();
    Ok(out.join(","))
}

/// The collection's extent: first and last time, `[W, S, E, N]`, last modification.
pub fn extent(items: &[Item]) -> (Option<(String, String)>, [f64; 4], Option<SystemTime>) {
    let start = items.iter().filter_map(|i| i.time.as_ref().map(|t| t.0.clone())).min();
    let end = items.iter().filter_map(|i| i.time.as_ref().map(|t| t.1.clone())).max();
    let boxes: Vec<[f64; 4]> = items.iter().filter_map(|i| i.bbox).collect();
    let bbox = if boxes.is_empty() || boxes.iter().any(|b| b[0] > b[2]) {
        [-180.0, -90.0, 180.0, 90.0]
    } else {
        let f = |i: usize, min: bool| {
            boxes.iter().map(|b| b[i]).fold(if min { f64::INFINITY } else { f64::NEG_INFINITY }, |a, b| {
                if min {
                    a.min(b)
                } else {
                    a.max(b)
                }
            })
        };
        [f(0, true), f(1, true), f(2, false), f(3, false)]
    };
    let modified = items.iter().map(|i| i.dataset.last_modified).max();
    (start.zip(end), bbox, modified)
}

/// The words offered for each key (and the levels), from the datasets.
pub fn summaries(st: &AppState, c: &Collection, items: &[Item]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = c
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            (k.name.clone(), items.iter().map(|it| it.words[i].clone()).collect::<BTreeSet<_>>().into_iter().collect())
        })
        .collect();
    if let Some(lk) = &c.level {
        let mut hpa: Vec<f64> = items.iter().filter_map(|it| levels(st, it)).flat_map(|l| l.hpa).collect();
        hpa.sort_by(|a, b| b.total_cmp(a));
        hpa.dedup_by(|a, b| number(*a) == number(*b));
        out.push((lk.name.clone(), hpa.into_iter().map(number).collect()));
    }
    if let Some(ix) = &c.index {
        let served: BTreeSet<&str> = items.iter().filter_map(variable).collect();
        let words = ix
            .table
            .iter()
            .filter(|(_, name)| index_inputs(name).is_some_and(|vars| vars.iter().all(|v| served.contains(v))))
            .map(|(w, _)| w.clone())
            .collect();
        out.push((ix.key.clone(), words));
        out.push((ix.period_key.clone(), ix.periods.keys().cloned().collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_areas() {
        assert_eq!(date_range("2015-01-01/2020-12-31"), "2015-01-01/2020-12-31");
        assert_eq!(date_range("20150101/20201231"), "2015-01-01/2020-12-31");
        assert_eq!(date_range("2015-03-01"), "2015-03-01/2015-03-01");
        assert_eq!(range_days("2015/2016-02"), ("2015-01-01".into(), "2016-02-31".into()));
        assert_eq!(range_days("/2016"), ("0000-01-01".into(), "2016-12-31".into()));
        assert_eq!(area_input(&json!([60, -10, 40, 10.5])).expect("area"), Some("-10,40,10.5,60".into()));
        assert_eq!(area_input(&json!("60/-10/40/10")).expect("area"), Some("-10,40,10,60".into()));
        assert!(area_input(&json!([60, -10, 40])).is_err());
        assert!(area_input(&json!([60, "x", 40, 1])).is_err());
        assert_eq!(number(500.0), "500");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(-10.0), "-10");
    }

    #[test]
    fn times() {
        let r = |v: Value| time_inputs(v.as_object().expect("object"));
        assert_eq!(
            r(json!({"date": "2015-01-01/2015-12-31"})).expect("t"),
            (Some("2015-01-01/2015-12-31".into()), None)
        );
        assert_eq!(
            r(json!({"year": ["2015", 2016], "month": ["01", "02"]})).expect("t"),
            (None, Some("year:2015,2016|month:01,02".into()))
        );
        assert_eq!(r(json!({"start_year": "2021", "end_year": 2025})).expect("t"), (Some("2021/2025".into()), None));
        assert!(r(json!({"start_year": "21"})).is_err());
        assert!(r(json!({"date": "2015-13-01/2016"})).is_err());
        assert!(r(json!({"date": ["a/b", "c/d"]})).is_err());
        assert!(r(json!({"month": ["13"]})).is_err());
    }

    #[test]
    fn hints() {
        let valid: BTreeSet<String> = ["historical", "ssp1_2_6", "ssp2_4_5"].iter().map(|s| (*s).to_string()).collect();
        let e = invalid("experiment", "ssp1-2_6", &valid).to_string();
        assert!(e.contains("'ssp1-2_6' is not valid"), "{e}");
        assert!(e.contains("historical, ssp1_2_6, ssp2_4_5"), "{e}");
        assert!(e.contains("did you mean 'ssp1_2_6'"), "{e}");
    }
}
