//! The documents of EDR answers: CoverageJSON (a Grid, a PointSeries, a Trajectory,
//! or a CoverageCollection of one coverage per cell), GeoJSON (one feature per cell,
//! time step and level) and CSV (one row per cell, time step and level).

use super::plan::{AxisSel, Cell, Domain, Plan};
use crate::cf;
use crate::model::{AttrValue, Dataset};
use serde_json::{json, Map, Value};
use std::fmt::Write;

/// The values of each parameter of a plan, as [`Plan::values`] gives them.
pub struct Answer<'a> {
    pub ds: &'a Dataset,
    pub plan: &'a Plan,
    pub values: Vec<Vec<f64>>,
}

fn text<'a>(ds: &'a Dataset, var: &str, k: &str) -> Option<&'a str> {
    ds.var(var)?.attr(k).and_then(AttrValue::as_text)
}

/// Writes a value in the shortest form that reads back as the stored number (f32
/// data as f32), `null` when missing.
fn number(out: &mut String, x: f64, single: bool) {
    if !x.is_finite() {
        out.push_str("null");
    } else if single {
        #[allow(clippy::cast_possible_truncation)]
        let _ = write!(out, "{}", x as f32);
    } else {
        let _ = write!(out, "{x}");
    }
}

fn single_precision(ds: &Dataset, var: &str) -> bool {
    ds.var(var).is_some_and(|v| v.dtype == crate::DataType::F32 && cf::Decode::of(v).plain())
}

/// The CoverageJSON parameter object of a variable.
pub fn parameter(ds: &Dataset, var: &str) -> Value {
    let long = text(ds, var, "long_name").unwrap_or(var);
    let mut p = json!({
        "type": "Parameter",
        "description": {"en": long},
        "observedProperty": {"label": {"en": text(ds, var, "standard_name").unwrap_or(long)}},
    });
    if let Some(sn) = text(ds, var, "standard_name") {
        p["observedProperty"]["id"] = json!(format!("http://vocab.nerc.ac.uk/standard_name/{sn}/"));
    }
    if let Some(u) = text(ds, var, "units") {
        p["unit"] = json!({"label": {"en": u}, "symbol": {"value": u, "type": "http://www.opengis.net/def/uom/UCUM/"}});
    }
    if let Some(m) = text(ds, var, "cell_methods") {
        p["measurementType"] = json!({"method": m});
    }
    p
}

/// The calendar of a TemporalRS: Gregorian, or a URI naming the CF calendar.
fn calendar(ds: &Dataset) -> String {
    let cal = cf::time_coordinate(ds).and_then(cf::calendar_of).unwrap_or(cf::Calendar::Standard);
    match cal.name() {
        "standard" | "gregorian" | "proleptic_gregorian" => "Gregorian".into(),
        other => calendar_uri(other),
    }
}

/// The temporal reference system of a CF calendar (by name): ISO 8601 Gregorian for
/// the standard calendars, else the calendar's definition in the CF conventions.
pub fn calendar_uri(name: &str) -> String {
    match name {
        "standard" | "gregorian" | "proleptic_gregorian" => {
            "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian".into()
        }
        other => {
            format!("https://cfconventions.org/Data/cf-conventions/cf-conventions-1.11/cf-conventions.html#calendar-{other}")
        }
    }
}

fn referencing(ds: &Dataset, plan: &Plan, xy: &[&str]) -> Value {
    let mut r = vec![json!({
        "coordinates": xy,
        "system": {"type": "GeographicCRS", "id": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
    })];
    if plan.time.is_some() {
        r.push(json!({"coordinates": ["t"], "system": {"type": "TemporalRS", "calendar": calendar(ds)}}));
    }
    if let Some(z) = &plan.level {
        let positive = ds.var(&z.name).and_then(|v| v.attr("positive")).and_then(AttrValue::as_text).unwrap_or("up");
        r.push(json!({"coordinates": ["z"], "system": {"type": "VerticalCRS", "cs": {"csAxes": [{
            "name": {"en": z.name}, "direction": positive, "unit": {"symbol": z.units.clone().unwrap_or_default()}
        }]}}}));
    }
    json!(r)
}

fn axis_values(a: &AxisSel, time: bool) -> Value {
    if time {
        json!({"values": a.labels})
    } else {
        json!({"values": a.values})
    }
}

/// A range: `values` (raw JSON text of the numbers) with its axes.
fn range(values: &str, axes: &[&str], shape: &[usize]) -> String {
    format!(
        "{{\"type\":\"NdArray\",\"dataType\":\"float\",\"axisNames\":{},\"shape\":{},\"values\":[{values}]}}",
        json!(axes),
        json!(shape)
    )
}

impl Answer<'_> {
    /// The answer as CoverageJSON.
    pub fn coverage_json(&self) -> String {
        let (ds, plan) = (self.ds, self.plan);
        let params: Map<String, Value> = plan.params.iter().map(|p| (p.clone(), parameter(ds, p))).collect();
        let single: Vec<bool> = plan.params.iter().map(|p| single_precision(ds, p)).collect();
        let (nt, nz) = plan.steps();
        let t_axis = plan.time.as_ref().map(|t| axis_values(t, true));
        let z_axis = plan.level.as_ref().map(|z| axis_values(z, false));
        let outer_names: Vec<&str> =
            [plan.time.as_ref().map(|_| "t"), plan.level.as_ref().map(|_| "z")].into_iter().flatten().collect();
        let outer_shape: Vec<usize> =
            [plan.time.as_ref().map(|_| nt), plan.level.as_ref().map(|_| nz)].into_iter().flatten().collect();
        // the values of parameter p at the cells `cells` (output indices) for every step
        let series = |p: usize, cells: &mut dyn Iterator<Item = usize>, ncells: usize| -> String {
            let v = &self.values[p];
            let mut s = String::new();
            let idx: Vec<usize> = cells.collect();
            for o in 0..nt * nz {
                for &c in &idx {
                    if !s.is_empty() {
                        s.push(',');
                    }
                    number(&mut s, v[o * ncells + c], single[p]);
                }
            }
            s
        };
        let ranges = |f: &dyn Fn(usize) -> String| -> String {
            let items: Vec<String> =
                plan.params.iter().enumerate().map(|(p, name)| format!("{}:{}", json!(name), f(p))).collect();
            format!("{{{}}}", items.join(","))
        };
        let coverage = |domain: Value, ranges: String, with_params: bool| -> String {
            let mut head = format!("{{\"type\":\"Coverage\",\"domain\":{domain}");
            if with_params {
                let _ = write!(head, ",\"parameters\":{}", Value::Object(params.clone()));
            }
            format!("{head},\"ranges\":{ranges}}}")
        };
        let mut axes = Map::new();
        let with_outer = |axes: &mut Map<String, Value>| {
            if let Some(t) = &t_axis {
                axes.insert("t".into(), t.clone());
            }
            if let Some(z) = &z_axis {
                axes.insert("z".into(), z.clone());
            }
        };
        match &plan.domain {
            Domain::Grid { lats, lons, .. } => {
                axes.insert("x".into(), json!({"values": lons}));
                axes.insert("y".into(), json!({"values": lats}));
                with_outer(&mut axes);
                let domain = json!({"type": "Domain", "domainType": "Grid", "axes": axes,
                    "referencing": referencing(ds, plan, &["x", "y"])});
                let names: Vec<&str> = outer_names.iter().copied().chain(["y", "x"]).collect();
                let shape: Vec<usize> = outer_shape.iter().copied().chain([lats.len(), lons.len()]).collect();
                let n = lats.len() * lons.len();
                coverage(domain, ranges(&|p| range(&series(p, &mut (0..n), n), &names, &shape)), true)
            }
            Domain::Trajectory(vertices) => {
                let with_z = plan.level.is_some();
                let tuples: Vec<Value> = vertices
                    .iter()
                    .map(|(c, t, z)| {
                        let tl = plan.time.as_ref().map(|a| a.labels[*t].clone()).unwrap_or_default();
                        match (with_z, z, &plan.level) {
                            (true, Some(z), Some(l)) => json!([tl, c.lon, c.lat, l.values[*z]]),
                            _ => json!([tl, c.lon, c.lat]),
                        }
                    })
                    .collect();
                let coords: Vec<&str> = if with_z { vec!["t", "x", "y", "z"] } else { vec!["t", "x", "y"] };
                axes.insert("composite".into(), json!({"dataType": "tuple", "coordinates": coords, "values": tuples}));
                let mut refs = referencing(ds, plan, &["x", "y"]);
                if let Some(arr) = refs.as_array_mut() {
                    // the composite axis carries t, x, y (and z)
                    arr.retain(|r| r["coordinates"] != json!(["z"]) || with_z);
                }
                let domain = json!({"type": "Domain", "domainType": "Trajectory", "axes": axes, "referencing": refs});
                let n = vertices.len();
                let r = |p: usize| {
                    let mut s = String::new();
                    for (k, &x) in self.values[p].iter().enumerate() {
                        if k > 0 {
                            s.push(',');
                        }
                        number(&mut s, x, single[p]);
                    }
                    range(&s, &["composite"], &[n])
                };
                coverage(domain, ranges(&r), true)
            }
            Domain::Points(cells) => {
                let n = cells.len();
                let point_series = plan.time.is_some() && nz <= 1;
                let one = |k: usize, c: &Cell| -> String {
                    let mut axes = Map::new();
                    axes.insert("x".into(), json!({"values": [c.lon]}));
                    axes.insert("y".into(), json!({"values": [c.lat]}));
                    if let Some(t) = &t_axis {
                        axes.insert("t".into(), t.clone());
                    }
                    if let Some(z) = &z_axis {
                        axes.insert("z".into(), z.clone());
                    }
                    let kind = if point_series { "PointSeries" } else { "Grid" };
                    let domain = json!({"type": "Domain", "domainType": kind, "axes": axes,
                        "referencing": referencing(ds, plan, &["x", "y"])});
                    let (names, shape): (Vec<&str>, Vec<usize>) = if point_series {
                        (vec!["t"], vec![nt])
                    } else {
                        (
                            outer_names.iter().copied().chain(["y", "x"]).collect(),
                            outer_shape.iter().copied().chain([1, 1]).collect(),
                        )
                    };
                    coverage(domain, ranges(&|p| range(&series(p, &mut std::iter::once(k), n), &names, &shape)), n == 1)
                };
                if n == 1 {
                    return one(0, &cells[0]);
                }
                let kind = if point_series { "PointSeries" } else { "Grid" };
                let items: Vec<String> = cells.iter().enumerate().map(|(k, c)| one(k, c)).collect();
                format!(
                    "{{\"type\":\"CoverageCollection\",\"domainType\":\"{kind}\",\"parameters\":{},\"referencing\":{},\"coverages\":[{}]}}",
                    Value::Object(params.clone()),
                    referencing(ds, plan, &["x", "y"]),
                    items.join(",")
                )
            }
        }
    }

    /// Every (cell, time, level) of the answer with its values, in output order:
    /// (lon, lat, time label, level, values per parameter).
    fn rows(&self, mut f: impl FnMut(f64, f64, Option<&str>, Option<f64>, &[f64])) {
        let plan = self.plan;
        let np = plan.params.len();
        let mut vals = vec![0.0; np];
        let tl = |t: usize| plan.time.as_ref().map(|a| a.labels[t].as_str());
        match &plan.domain {
            Domain::Trajectory(v) => {
                for (k, (c, t, z)) in v.iter().enumerate() {
                    for (x, v) in vals.iter_mut().zip(&self.values) {
                        *x = v[k];
                    }
                    let zv = z.and_then(|z| plan.level.as_ref().map(|l| l.values[z]));
                    f(c.lon, c.lat, tl(*t), zv, &vals);
                }
            }
            _ => {
                let cells: Vec<(f64, f64)> = match &plan.domain {
                    Domain::Grid { lats, lons, .. } => {
                        lats.iter().flat_map(|&la| lons.iter().map(move |&lo| (lo, la))).collect()
                    }
                    Domain::Points(c) => c.iter().map(|c| (c.lon, c.lat)).collect(),
                    Domain::Trajectory(_) => vec![],
                };
                let inside = match &plan.domain {
                    Domain::Grid { inside: Some(i), .. } => Some(i),
                    _ => None,
                };
                let (nt, nz) = plan.steps();
                let n = cells.len();
                for t in 0..nt {
                    for z in 0..nz {
                        let zv = plan.level.as_ref().map(|l| l.values[z]);
                        for (c, &(lon, lat)) in cells.iter().enumerate() {
                            if inside.is_some_and(|i| !i[c]) {
                                continue;
                            }
                            for (x, v) in vals.iter_mut().zip(&self.values) {
                                *x = v[(t * nz + z) * n + c];
                            }
                            f(lon, lat, tl(t), zv, &vals);
                        }
                    }
                }
            }
        }
    }

    /// The answer as GeoJSON: a FeatureCollection of points, one per cell, time step
    /// and level, the parameters' values as properties.
    pub fn geojson(&self) -> String {
        let plan = self.plan;
        let single: Vec<bool> = plan.params.iter().map(|p| single_precision(self.ds, p)).collect();
        let names: Vec<String> = plan.params.iter().map(|p| json!(p).to_string()).collect();
        let zname = plan.level.as_ref().map(|l| json!(l.name).to_string());
        let mut s = String::from("{\"type\":\"FeatureCollection\",\"features\":[");
        let mut first = true;
        self.rows(|lon, lat, t, z, vals| {
            if !first {
                s.push(',');
            }
            first = false;
            let _ = write!(s, "{{\"type\":\"Feature\",\"geometry\":{{\"type\":\"Point\",\"coordinates\":[{lon},{lat}]}},\"properties\":{{");
            let mut props = Vec::with_capacity(vals.len() + 2);
            if let Some(t) = t {
                props.push(format!("\"datetime\":\"{t}\""));
            }
            if let (Some(z), Some(n)) = (z, &zname) {
                props.push(format!("{n}:{z}"));
            }
            for (p, &v) in vals.iter().enumerate() {
                let mut x = String::new();
                number(&mut x, v, single[p]);
                props.push(format!("{}:{x}", names[p]));
            }
            s.push_str(&props.join(","));
            s.push_str("}}");
        });
        let params: Map<String, Value> = plan.params.iter().map(|p| (p.clone(), parameter(self.ds, p))).collect();
        let _ = write!(s, "],\"parameters\":{}}}", Value::Object(params));
        s
    }

    /// The answer as CSV: `datetime`, the level, `longitude`, `latitude`, then one
    /// column per parameter (empty when missing).
    pub fn csv(&self) -> String {
        let plan = self.plan;
        let single: Vec<bool> = plan.params.iter().map(|p| single_precision(self.ds, p)).collect();
        let mut s = String::new();
        let mut head: Vec<String> = Vec::new();
        if plan.time.is_some() {
            head.push("datetime".into());
        }
        if let Some(l) = &plan.level {
            head.push(l.name.clone());
        }
        head.extend(["longitude".to_string(), "latitude".to_string()]);
        head.extend(plan.params.iter().cloned());
        s.push_str(&head.join(","));
        s.push('\n');
        self.rows(|lon, lat, t, z, vals| {
            if let Some(t) = t {
                let _ = write!(s, "{t},");
            }
            if let Some(z) = z {
                let _ = write!(s, "{z},");
            }
            let _ = write!(s, "{lon},{lat}");
            for (p, &v) in vals.iter().enumerate() {
                s.push(',');
                if v.is_finite() {
                    number(&mut s, v, single[p]);
                }
            }
            s.push('\n');
        });
        s
    }
}
