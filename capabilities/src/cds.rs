//! The Copernicus Climate Data Store vocabulary (`data/cds.json`): the collections of
//! the CDS API, their request keys, and how a DRS facet value becomes the CDS word
//! users write (a table for the known words, a rule for the others).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// How a DRS value without a table entry becomes a CDS word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The value as it is.
    Identity,
    /// Lowercase; anything but letters and digits becomes `_` (`INM-CM5-0` → `inm_cm5_0`).
    LowerUnderscore,
    /// As `LowerUnderscore`, then the digits ending the word are separated by `_`
    /// (`ssp245` → `ssp2_4_5`).
    SplitDigits,
    /// As `SplitDigits`, with `_` also before the digits (`rcp85` → `rcp_8_5`).
    SplitDigitsAfterPrefix,
    /// The variable's `long_name` in `LowerUnderscore` form, else the value.
    LongName,
    /// Hundredths of a degree as the CDS names a grid spacing (`11` → `0_11_degree_x_0_11_degree`).
    Degrees,
}

/// One value or several.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values as a slice.
    pub fn values(&self) -> &[String] {
        match self {
            OneOrMany::One(s) => std::slice::from_ref(s),
            OneOrMany::Many(v) => v,
        }
    }
}

/// The part of a facet value a key looks at (`EUR-11` split on `-`: part 0 is the
/// region, part 1 the resolution).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub separator: String,
    pub index: usize,
}

/// A request key of a collection, mapped to a DRS facet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Key {
    pub name: String,
    pub label: String,
    pub facet: String,
    #[serde(default)]
    pub part: Option<Part>,
    pub required: bool,
    pub rule: Rule,
    /// CDS word → DRS value(s).
    #[serde(default)]
    pub table: BTreeMap<String, OneOrMany>,
}

/// The pressure level key of a collection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LevelKey {
    pub name: String,
    pub label: String,
    /// Units of the values users give (`hPa`).
    pub units: String,
    /// Values that mean "no level selection" (`single_levels`).
    #[serde(default)]
    pub ignore: Vec<String>,
}

/// The keys of a collection of derived products whose requests are climate indices
/// (`climate_index` jobs) rather than subsets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexKeys {
    /// The key naming the index, and its CDS words → index names (`summer_days` → `SU`).
    pub key: String,
    pub label: String,
    pub table: BTreeMap<String, String>,
    /// The key naming the periods, and its words → slice modes (`yearly` → `year`).
    pub period_key: String,
    pub period_label: String,
    pub periods: BTreeMap<String, String>,
    pub default_period: String,
    /// The key giving the base period of percentile indices (`1981-2010`).
    pub base_key: String,
}

/// A CDS collection (a "dataset" in CDS terms; a process of the retrieve API).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Collection {
    pub id: String,
    pub title: String,
    pub description: String,
    pub keywords: Vec<String>,
    /// Catalog datasets whose facets have one of these values (case-insensitive).
    pub select: BTreeMap<String, Vec<String>>,
    pub keys: Vec<Key>,
    #[serde(default)]
    pub level: Option<LevelKey>,
    /// The time keys offered (`date`, `year`, `month`, `day`, `start_year`, `end_year`).
    pub time_keys: Vec<String>,
    pub formats: Vec<String>,
    pub default_format: String,
    /// Set for collections of climate indices.
    #[serde(default)]
    pub index: Option<IndexKeys>,
}

#[derive(Deserialize)]
struct CdsFile {
    collections: Vec<Collection>,
    rules: BTreeMap<String, String>,
}

fn file() -> &'static CdsFile {
    static F: OnceLock<CdsFile> = OnceLock::new();
    F.get_or_init(|| {
        serde_json::from_str(include_str!("../data/cds.json"))
            .unwrap_or_else(|e| panic!("capabilities/data/cds.json is invalid: {e}"))
    })
}

/// All CDS collections.
pub fn collections() -> &'static [Collection] {
    &file().collections
}

/// A CDS collection by id.
pub fn collection(id: &str) -> Option<&'static Collection> {
    collections().iter().find(|c| c.id == id)
}

/// What each rule does, in words (from the data file).
pub fn rule_descriptions() -> &'static BTreeMap<String, String> {
    &file().rules
}

/// Lowercase, anything but ASCII letters and digits as `_`, runs of `_` collapsed.
pub fn lower_underscore(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

fn split_digits(s: &str, after_prefix: bool) -> String {
    let w = lower_underscore(s);
    let letters = w.trim_end_matches(|c: char| c.is_ascii_digit());
    let digits = &w[letters.len()..];
    if letters.is_empty() || digits.is_empty() || !letters.chars().all(|c| c.is_ascii_lowercase()) {
        return w;
    }
    let sep = if after_prefix { "_" } else { "" };
    let joined: Vec<String> = digits.chars().map(String::from).collect();
    format!("{letters}{sep}{}", joined.join("_"))
}

impl Collection {
    /// True when a dataset with these facets belongs to the collection.
    pub fn selects(&self, facets: &[(String, String)]) -> bool {
        self.select.iter().all(|(facet, values)| {
            facets.iter().any(|(k, v)| k == facet && values.iter().any(|a| a.eq_ignore_ascii_case(v)))
        })
    }

    /// A key by name.
    pub fn key(&self, name: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.name == name)
    }
}

impl Key {
    /// The part of a facet value this key looks at.
    pub fn value_part<'a>(&self, facet_value: &'a str) -> &'a str {
        match &self.part {
            Some(p) => facet_value.split(p.separator.as_str()).nth(p.index).unwrap_or(facet_value),
            None => facet_value,
        }
    }

    /// The CDS word of a DRS facet value; `long_name` is the variable's long name, for
    /// the `long_name` rule.
    pub fn word(&self, facet_value: &str, long_name: Option<&str>) -> String {
        let v = self.value_part(facet_value);
        let hit = |eq: &dyn Fn(&str) -> bool| {
            self.table.iter().find(|(_, drs)| drs.values().iter().any(|d| eq(d))).map(|(w, _)| w.clone())
        };
        if let Some(w) = hit(&|d| d == v).or_else(|| hit(&|d| d.eq_ignore_ascii_case(v))) {
            return w;
        }
        match self.rule {
            Rule::Identity => v.to_string(),
            Rule::LowerUnderscore => lower_underscore(v),
            Rule::SplitDigits => split_digits(v, false),
            Rule::SplitDigitsAfterPrefix => split_digits(v, true),
            Rule::Degrees if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()) => {
                format!("0_{v}_degree_x_0_{v}_degree")
            }
            Rule::Degrees => lower_underscore(v),
            Rule::LongName => {
                // A long name that is the table word of another variable would be ambiguous.
                match long_name.map(lower_underscore).filter(|w| !w.is_empty() && !self.table.contains_key(w)) {
                    Some(w) => w,
                    None => v.to_string(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_load() {
        let c = collection("projections-cmip6").expect("cmip6");
        assert!(c.key("model").is_some());
        assert!(collection("projections-cordex-domains-single-levels").is_some());
        for c in collections() {
            assert!(c.formats.contains(&c.default_format), "{}", c.id);
        }
        assert!(rule_descriptions().contains_key("split_digits"));
    }

    #[test]
    fn words() {
        let c = collection("projections-cmip6").expect("cmip6");
        let k = |n: &str| c.key(n).expect("key");
        assert_eq!(k("model").word("INM-CM5-0", None), "inm_cm5_0");
        assert_eq!(k("model").word("IPSL-CM6A-LR", None), "ipsl_cm6a_lr");
        assert_eq!(k("experiment").word("ssp245", None), "ssp2_4_5");
        assert_eq!(k("experiment").word("ssp534-over", None), "ssp5_3_4os");
        assert_eq!(k("experiment").word("ssp999", None), "ssp9_9_9");
        assert_eq!(k("experiment").word("piControl", None), "picontrol");
        assert_eq!(k("experiment").word("1pctCO2", None), "1pctco2");
        assert_eq!(k("temporal_resolution").word("AERmon", None), "monthly");
        assert_eq!(k("temporal_resolution").word("day", None), "daily");
        assert_eq!(
            k("variable").word("rlds", Some("Surface Downwelling Longwave Radiation")),
            "surface_downwelling_longwave_radiation"
        );
        assert_eq!(
            k("variable").word("siconc", Some("Sea-Ice Area Percentage (Ocean Grid)")),
            "sea_ice_area_percentage_on_ocean_grid"
        );
        assert_eq!(k("variable").word("xyz", Some("Some New Thing")), "some_new_thing");
        // a long name that is another variable's word is not used
        assert_eq!(k("variable").word("tasx", Some("Air Temperature")), "tasx");
        assert_eq!(k("variable").word("abc", None), "abc");
        let d = collection("projections-cordex-domains-single-levels").expect("cordex");
        let k = |n: &str| d.key(n).expect("key");
        assert_eq!(k("domain").word("EUR-11", None), "europe");
        assert_eq!(k("domain").word("XYZ-11", None), "xyz");
        assert_eq!(k("horizontal_resolution").word("EUR-22", None), "0_22_degree_x_0_22_degree");
        assert_eq!(k("horizontal_resolution").word("EUR-44i", None), "0_5_degree_x_0_5_degree");
        assert_eq!(k("horizontal_resolution").word("EUR-33", None), "0_33_degree_x_0_33_degree");
        assert_eq!(k("experiment").word("rcp85", None), "rcp_8_5");
        assert_eq!(k("experiment").word("rcp60", None), "rcp_6_0");
        assert_eq!(k("temporal_resolution").word("mon", None), "monthly_mean");
        assert_eq!(k("variable").word("zg500", None), "500hpa_geopotential");
        assert_eq!(k("gcm_model").word("MPI-M-MPI-ESM-LR", None), "mpi_m_mpi_esm_lr");
        assert_eq!(k("rcm_model").word("GERICS-REMO2015", None), "gerics_remo2015");
        assert!(d.selects(&[("project".into(), "CORDEX".into()), ("product".into(), "output".into())]));
        assert!(!d.selects(&[("project".into(), "CMIP5".into())]));
    }
}
