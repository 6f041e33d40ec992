//! CF conventions on top of the dataset model: which variables are coordinates,
//! bounds, grid mappings or data; time decoding; packing and fill values.

pub mod calendar;
pub mod packing;
pub mod time;

pub use calendar::Calendar;
pub use packing::{cell_major, Decode};
pub use time::{DateTime, TimeUnits};

use crate::model::{AttrValue, Dataset, Variable};
use std::collections::HashSet;

fn text<'a>(v: &'a Variable, name: &str) -> Option<&'a str> {
    v.attr(name).and_then(AttrValue::as_text)
}

/// True when the variable is a time coordinate.
pub fn is_time(v: &Variable) -> bool {
    text(v, "axis").is_some_and(|a| a.eq_ignore_ascii_case("T"))
        || text(v, "standard_name") == Some("time")
        || (v.dims.len() == 1 && text(v, "units").is_some_and(|u| u.to_ascii_lowercase().contains(" since ")))
}

/// True when the variable holds latitudes (1-D or 2-D).
pub fn is_latitude(v: &Variable) -> bool {
    text(v, "standard_name") == Some("latitude")
        || text(v, "units").is_some_and(|u| {
            matches!(u, "degrees_north" | "degree_north" | "degree_N" | "degrees_N" | "degreeN" | "degreesN")
        })
}

/// True when the variable holds longitudes (1-D or 2-D).
pub fn is_longitude(v: &Variable) -> bool {
    text(v, "standard_name") == Some("longitude")
        || text(v, "units").is_some_and(|u| {
            matches!(u, "degrees_east" | "degree_east" | "degree_E" | "degrees_E" | "degreeE" | "degreesE")
        })
}

/// The time coordinate variable of a dataset, if any.
pub fn time_coordinate(ds: &Dataset) -> Option<&Variable> {
    ds.vars
        .iter()
        .find(|v| v.is_coordinate() && is_time(v))
        .or_else(|| ds.vars.iter().find(|v| v.dims.len() == 1 && is_time(v)))
}

/// The calendar of a time variable (standard when absent; None when unknown or `none`).
pub fn calendar_of(v: &Variable) -> Option<Calendar> {
    match text(v, "calendar") {
        Some(c) => Calendar::parse(c),
        None => Some(Calendar::Standard),
    }
}

/// The parsed time units of a time variable.
pub fn time_units(v: &Variable) -> Option<TimeUnits> {
    TimeUnits::parse(text(v, "units")?, calendar_of(v)?).ok()
}

/// Names of variables that describe others (coordinates, bounds, grid mappings,
/// formula terms, ancillary and cell measure variables).
pub fn auxiliary_names(ds: &Dataset) -> HashSet<String> {
    let mut aux = HashSet::new();
    for v in &ds.vars {
        if v.is_coordinate() {
            aux.insert(v.name.clone());
        }
        for key in ["coordinates", "ancillary_variables"] {
            if let Some(s) = text(v, key) {
                aux.extend(s.split_whitespace().map(str::to_string));
            }
        }
        for key in ["bounds", "climatology", "grid_mapping"] {
            if let Some(s) = text(v, key) {
                // grid_mapping may be "crs: x y" in extended form
                aux.extend(
                    s.split_whitespace().filter(|w| !w.ends_with(':')).map(|w| w.trim_end_matches(':').to_string()),
                );
            }
        }
        if let Some(s) = text(v, "formula_terms") {
            aux.extend(s.split_whitespace().filter(|w| !w.ends_with(':')).map(str::to_string));
        }
        if let Some(s) = text(v, "cell_measures") {
            aux.extend(s.split_whitespace().filter(|w| !w.ends_with(':')).map(str::to_string));
        }
    }
    aux
}

/// The data variables of a dataset: not coordinates, bounds or other auxiliaries,
/// with at least one dimension.
pub fn data_variables(ds: &Dataset) -> Vec<&Variable> {
    let aux = auxiliary_names(ds);
    let mut out: Vec<&Variable> = ds
        .vars
        .iter()
        .filter(|v| {
            !aux.contains(&v.name)
                && !v.dims.is_empty()
                && v.dtype.is_numeric()
                && !v.name.ends_with("_bnds")
                && !v.name.ends_with("_bounds")
        })
        .collect();
    if out.is_empty() {
        out = ds.vars.iter().filter(|v| !v.dims.is_empty()).collect();
    }
    out
}

/// The main variable of a dataset: the DRS variable facet or the global
/// `variable_id`, else the data variable with the most dimensions.
pub fn main_variable(ds: &Dataset) -> Option<&Variable> {
    let named = ds
        .facet("variable_id")
        .or_else(|| ds.facet("variable"))
        .or_else(|| ds.attr("variable_id").and_then(AttrValue::as_text));
    if let Some(v) = named.and_then(|n| ds.var(n)) {
        return Some(v);
    }
    data_variables(ds).into_iter().max_by_key(|v| v.dims.len())
}

/// Fill value of a variable (`_FillValue`, else `missing_value`), as f64.
pub fn fill_value(v: &Variable) -> Option<f64> {
    v.attr("_FillValue").or_else(|| v.attr("missing_value")).and_then(AttrValue::as_f64)
}
