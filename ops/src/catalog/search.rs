//! Searching the catalog: facet constraints, free text, paging and facet counts — what
//! `/datasets` and the ESGF search API answer.

use super::{Catalog, Summary};
use std::collections::{BTreeMap, BTreeSet};

/// The most datasets one page may hold.
pub const MAX_LIMIT: usize = 10_000;

/// A search of the catalog.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// Lower-case words that must all occur in the id, title or variable names.
    pub words: Vec<String>,
    /// Facet constraints: the dataset's facet must be one of the values (case
    /// insensitive); all constraints must hold.
    pub facets: Vec<(String, Vec<String>)>,
    /// Datasets to skip (in id order).
    pub offset: usize,
    /// Datasets per page (at most [`MAX_LIMIT`]).
    pub limit: usize,
    /// Facets whose values are counted over the matching datasets.
    pub counts: Vec<String>,
}

/// What a search found.
pub struct Found<'a> {
    /// Datasets matching, in all.
    pub total: usize,
    /// The page asked for.
    pub page: Vec<&'a Summary>,
    /// Per counted facet: value → number of matching datasets.
    pub counts: BTreeMap<String, BTreeMap<String, usize>>,
}

/// Count the values `e` has of each counted facet.
pub fn tally(counts: &mut BTreeMap<String, BTreeMap<String, usize>>, e: &Summary) {
    for (k, values) in counts {
        if let Some(v) = facet(e, k) {
            *values.entry(v.to_string()).or_insert(0) += 1;
        }
    }
}

/// The value of a facet of a dataset; `project` is also CMIP6's `mip_era`.
pub fn facet<'e>(e: &'e Summary, key: &str) -> Option<&'e str> {
    e.facet(key).or_else(|| if key == "project" { e.facet("mip_era") } else { None })
}

impl Query {
    /// Add a facet constraint `key=value[,value...]` (values of one key accumulate).
    pub fn add_facet(&mut self, key: &str, values: &str) {
        let values = values.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty());
        match self.facets.iter_mut().find(|(n, _)| n == key) {
            Some((_, old)) => old.extend(values),
            None => self.facets.push((key.to_string(), values.collect())),
        }
    }

    /// Empty counts of the facets asked for.
    pub fn new_counts(&self) -> BTreeMap<String, BTreeMap<String, usize>> {
        self.counts.iter().map(|k| (k.clone(), BTreeMap::new())).collect()
    }

    /// True when the dataset matches the words and facet constraints.
    pub fn matches(&self, e: &Summary) -> bool {
        let facets_ok = self
            .facets
            .iter()
            .all(|(k, values)| facet(e, k).is_some_and(|v| values.iter().any(|w| w.eq_ignore_ascii_case(v))));
        if !facets_ok {
            return false;
        }
        if self.words.is_empty() {
            return true;
        }
        let mut text = format!("{} {}", e.id, e.title).to_lowercase();
        for v in &e.variables {
            text.push(' ');
            text.push_str(&v.to_lowercase());
        }
        self.words.iter().all(|w| text.contains(w.as_str()))
    }
}

/// The facet names some dataset of `cat` has (with `project`).
pub(super) fn facet_keys(cat: &Catalog) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = BTreeSet::new();
    for e in cat.summaries.values() {
        for (k, _) in &e.facets {
            if !out.contains(k) {
                out.insert(k.clone());
            }
        }
    }
    if !out.is_empty() {
        out.insert("project".into());
    }
    out
}

impl Catalog {
    /// The facet names some dataset has (with `project`), known since the scan.
    pub fn facet_names(&self) -> &BTreeSet<String> {
        &self.facet_keys
    }

    /// The datasets matching `q`, one page of them, and the facet counts.
    pub fn search(&self, q: &Query) -> Found<'_> {
        let limit = q.limit.min(MAX_LIMIT);
        let mut total = 0;
        let mut page = Vec::with_capacity(limit.min(1024));
        let mut counts = q.new_counts();
        for e in self.summaries.values().filter(|e| q.matches(e)) {
            if total >= q.offset && page.len() < limit {
                page.push(e);
            }
            total += 1;
            tally(&mut counts, e);
        }
        Found { total, page, counts }
    }
}
