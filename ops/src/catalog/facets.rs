//! The search facets common to CMIP6, CMIP5 and CORDEX (project, experiment, model,
//! variable, frequency, domain, institution, member) from each project's own DRS
//! facets and global attributes, for the web page and the STAC collections; kept in
//! each dataset's [`Summary`](super::Summary).

use crate::{AttrValue, Dataset};
use std::collections::BTreeMap;

/// The facets the web page searches by, in display order.
pub const SEARCH: &[&str] = &["project", "experiment", "model", "variable", "frequency", "domain"];

/// CMIP6 frequency of a MIP table (`Amon` → `mon`), when the files do not say.
fn frequency_of_table(table: &str) -> Option<&'static str> {
    let t = table.to_ascii_lowercase();
    Some(if t.ends_with("mon") || t.ends_with("monz") {
        "mon"
    } else if t.contains("day") {
        "day"
    } else if t.contains("6hr") {
        "6hr"
    } else if t.contains("3hr") {
        "3hr"
    } else if t.ends_with("1hr") || t.contains("hr") {
        "1hr"
    } else if t.contains("yr") {
        "yr"
    } else if t.contains("fx") {
        "fx"
    } else {
        return None;
    })
}

/// The common facets of a dataset.
pub fn of(ds: &Dataset) -> BTreeMap<String, String> {
    let facet = |k: &str| ds.facet(k).map(str::to_string);
    let attr =
        |k: &str| ds.attr(k).and_then(AttrValue::as_text).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            m.insert(k.to_string(), v);
        }
    };
    let project =
        facet("mip_era").or_else(|| facet("project")).or_else(|| attr("mip_era")).or_else(|| attr("project_id"));
    put("project", project);
    put("experiment", facet("experiment_id").or_else(|| facet("experiment")).or_else(|| attr("experiment_id")));
    put(
        "model",
        facet("source_id")
            .or_else(|| facet("rcm_name"))
            .or_else(|| facet("model"))
            .or_else(|| attr("source_id"))
            .or_else(|| attr("model_id")),
    );
    put("driving_model", facet("driving_model"));
    put(
        "variable",
        facet("variable_id")
            .or_else(|| facet("variable"))
            .or_else(|| attr("variable_id"))
            .or_else(|| crate::cf::main_variable(ds).map(|v| v.name.clone())),
    );
    put(
        "frequency",
        facet("time_frequency")
            .or_else(|| attr("frequency"))
            .or_else(|| facet("table_id").and_then(|t| frequency_of_table(&t).map(str::to_string))),
    );
    put("domain", facet("domain").or_else(|| attr("CORDEX_domain")));
    put("institution", facet("institution_id").or_else(|| facet("institute")));
    put("member", facet("member_id").or_else(|| facet("ensemble")));
    put("table", facet("table_id").or_else(|| facet("cmor_table")));
    m
}

#[cfg(test)]
mod tests {
    #[test]
    fn tables() {
        assert_eq!(super::frequency_of_table("Amon"), Some("mon"));
        assert_eq!(super::frequency_of_table("day"), Some("day"));
        assert_eq!(super::frequency_of_table("SImon"), Some("mon"));
        assert_eq!(super::frequency_of_table("E3hr"), Some("3hr"));
        assert_eq!(super::frequency_of_table("fx"), Some("fx"));
    }
}
