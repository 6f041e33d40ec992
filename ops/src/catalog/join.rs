//! Building one dataset from the headers of its files, joining them along time.

use super::{Extent, FileInfo, TimeExtent};
use crate::cf;
use crate::model::{Dataset, Join, Rebase, SourceFile};
use std::sync::Arc;
use std::time::SystemTime;

/// Build the dataset of one group of files: a single file, or files joined along the
/// time dimension. Fails with a reason when the files cannot be joined.
pub(super) fn build(
    id: &str,
    root: usize,
    files: Vec<SourceFile>,
    infos: &[Arc<FileInfo>],
    facets: Vec<(String, String)>,
) -> Result<(Dataset, Extent), String> {
    let first = &infos[0].header;
    let mut ds = Dataset {
        id: id.to_string(),
        title: String::new(),
        facets,
        root,
        files,
        dims: first.dims.clone(),
        vars: first.vars.clone(),
        attrs: first.attrs.clone(),
        groups: first.groups.clone(),
        types: first.types.clone(),
        join: None,
        warnings: first.skipped.clone(),
        etag: String::new(),
        last_modified: SystemTime::UNIX_EPOCH,
        coords: vec![],
    };
    let mut order: Vec<usize> = (0..infos.len()).collect();
    let mut times: Vec<Option<Vec<f64>>> = infos.iter().map(|i| i.times.clone()).collect();
    if infos.len() > 1 {
        (order, times) = join_along_time(&mut ds, infos)?;
        ds.files = order.iter().map(|&i| ds.files[i].clone()).collect();
    }
    ds.title = title(&ds);
    let (etag, modified) = validator(&ds.files);
    ds.etag = etag;
    ds.last_modified = modified;
    let ordered: Vec<&Option<Vec<f64>>> = order.iter().map(|&i| &times[i]).collect();
    let extent = extent(&ds, &ordered, infos[order[0]].bbox);
    ds.coords = coordinate_values(&ds, infos[order[0]].coords.clone(), &ordered);
    Ok((ds, extent))
}

/// The time units of each file's time coordinate `name`, checked to share one calendar.
fn file_units(ds: &Dataset, infos: &[Arc<FileInfo>], name: &str) -> Result<Vec<cf::TimeUnits>, String> {
    let mut out: Vec<cf::TimeUnits> = Vec::with_capacity(infos.len());
    for (i, info) in infos.iter().enumerate() {
        let t = info
            .header
            .vars
            .iter()
            .find(|v| v.name == name)
            .ok_or(format!("{} has no variable '{name}'", ds.files[i].rel))?;
        let units = t.attr("units").and_then(|u| u.as_text()).unwrap_or("");
        let tu = cf::time_units(t)
            .ok_or(format!("the time units '{units}' of {} are not CF time units", ds.files[i].rel))?;
        if let Some(first) = out.first() {
            if first.calendar != tu.calendar {
                return Err(format!(
                    "the files' calendars differ: {} is {}, {} is {}",
                    ds.files[0].rel, first.calendar, ds.files[i].rel, tu.calendar
                ));
            }
        }
        if info.times.as_ref().is_none_or(Vec::is_empty) {
            return Err(format!("{} has no time values in '{name}'", ds.files[i].rel));
        }
        out.push(tu);
    }
    Ok(out)
}

/// Check the files can be joined along time and set up the join. Files whose time
/// units differ (same calendar) have their time values re-expressed in the units of the
/// earliest file. Returns the file order (by first time) and each file's time values
/// in the dataset's units.
#[allow(clippy::type_complexity)]
fn join_along_time(ds: &mut Dataset, infos: &[Arc<FileInfo>]) -> Result<(Vec<usize>, Vec<Option<Vec<f64>>>), String> {
    let time = cf::time_coordinate(ds).ok_or("the files have no time coordinate to join along")?.clone();
    let tdim = time.dims.first().cloned().ok_or("the time coordinate has no dimension")?;
    let units = file_units(ds, infos, &time.name)?;
    // order by the first time as an absolute instant, then rebase to the earliest file
    let instant = |i: usize| {
        infos[i].times.as_ref().map_or(f64::NAN, |t| t[0] * units[i].unit_seconds + units[i].epoch_seconds())
    };
    let mut order: Vec<usize> = (0..infos.len()).collect();
    order.sort_by(|&a, &b| instant(a).total_cmp(&instant(b)));
    let base = order[0];
    let base_units = units_text(infos, base, &time.name);
    let rebase: Vec<Option<Rebase>> = (0..infos.len())
        .map(|i| {
            if units_text(infos, i, &time.name) == base_units {
                None
            } else {
                Rebase::between(&units[i], &units[base])
            }
        })
        .collect();
    let times: Vec<Option<Vec<f64>>> = infos
        .iter()
        .zip(&rebase)
        .map(|(info, r)| {
            info.times.as_ref().map(|t| r.map_or_else(|| t.clone(), |r| t.iter().map(|&x| r.apply(x)).collect()))
        })
        .collect();
    if let Some(i) = rebase.iter().position(Option::is_some) {
        ds.warnings.push(format!(
            "time units differ between files (e.g. '{}' in {}, '{base_units}' in {}): times are given in '{base_units}'",
            units_text(infos, i, &time.name),
            ds.files[i].rel,
            ds.files[base].rel,
        ));
    }
    // the dataset's header is the earliest file's
    if base != 0 {
        if let Some(v) = ds.vars.iter_mut().find(|v| v.name == time.name) {
            if let Some(t) = infos[base].header.vars.iter().find(|o| o.name == time.name) {
                v.attrs = t.attrs.clone();
            }
        }
    }
    let infos_times = &times;
    // Monotonic inside files and across file boundaries.
    let mut steps = Vec::new();
    for &i in &order {
        let t = infos_times[i].as_deref().unwrap_or_default();
        for w in t.windows(2) {
            if w[1] <= w[0] {
                return Err(format!("time is not increasing in {}", ds.files[i].rel));
            }
            steps.push(w[1] - w[0]);
        }
    }
    steps.sort_by(f64::total_cmp);
    let median = steps.get(steps.len() / 2).copied();
    let units_txt = time.attr("units").and_then(|u| u.as_text()).unwrap_or("").to_string();
    let tu = cf::time_units(&time);
    // Leading records of a file at or before the previous file's last time are
    // duplicates at the boundary (e.g. HadGEM2-ES repeats 2099-12): leave them out.
    let mut skip = vec![0usize; infos.len()];
    let show = |v: f64| tu.and_then(|u| u.decode(v)).map_or_else(|| format!("{v} {units_txt}"), |d| d.to_string());
    for w in order.windows(2) {
        let (Some(ta), Some(tb)) = (infos_times[w[0]].as_ref(), infos_times[w[1]].as_ref()) else {
            continue;
        };
        let last = ta[ta.len() - 1];
        let dup = tb.iter().take_while(|&&t| t <= last).count();
        if dup == tb.len() {
            return Err(format!("{} lies entirely within the time span of {}", ds.files[w[1]].rel, ds.files[w[0]].rel));
        }
        if dup > 0 {
            skip[w[1]] = dup;
            ds.warnings.push(format!(
                "{} repeats {dup} time step(s) up to {} already in {}; the repeated step(s) are left out",
                ds.files[w[1]].rel,
                show(last),
                ds.files[w[0]].rel
            ));
        }
        let next = tb[dup];
        if let Some(m) = median {
            if next - last > 1.5 * m {
                ds.warnings.push(format!(
                    "gap in time between {} (ends {}) and {} (starts {})",
                    ds.files[w[0]].rel,
                    show(last),
                    ds.files[w[1]].rel,
                    show(next)
                ));
            }
        }
    }
    // Same variables, types and non-time shapes in every file.
    for &i in &order {
        let h = &infos[i].header;
        if h.types != ds.types {
            return Err(format!("the user-defined types differ in {}", ds.files[i].rel));
        }
        for v in &ds.vars {
            let Some(o) = h.vars.iter().find(|o| o.name == v.name) else {
                return Err(format!("variable '{}' is missing from {}", v.name, ds.files[i].rel));
            };
            let same_shape =
                o.dims == v.dims && o.shape.iter().zip(&v.shape).zip(&v.dims).all(|((a, b), d)| *d == tdim || a == b);
            if o.dtype != v.dtype || !same_shape {
                return Err(format!("variable '{}' differs in type or shape in {}", v.name, ds.files[i].rel));
            }
        }
    }
    let mut offsets = vec![0usize];
    for &i in &order {
        let n = infos[i].header.dims.iter().find(|d| d.name == tdim).map_or(0, |d| d.len) - skip[i];
        offsets.push(offsets.last().copied().unwrap_or(0) + n);
    }
    let total = offsets.last().copied().unwrap_or(0);
    for d in ds.dims.iter_mut().filter(|d| d.name == tdim) {
        d.len = total;
    }
    for v in &mut ds.vars {
        if let Some(jd) = v.dims.iter().position(|d| *d == tdim) {
            v.joined = true;
            v.shape[jd] = total;
        }
    }
    let mut rebased = vec![time.name.clone()];
    for key in ["bounds", "climatology"] {
        if let Some(b) = time.attr(key).and_then(|a| a.as_text()) {
            rebased.push(b.to_string());
        }
    }
    ds.join = Some(Join {
        dim: tdim,
        offsets,
        skip: order.iter().map(|&i| skip[i]).collect(),
        rebase: order.iter().map(|&i| rebase[i]).collect(),
        rebased,
    });
    Ok((order, times))
}

fn title(ds: &Dataset) -> String {
    let main = cf::main_variable(ds);
    if !ds.facets.is_empty() {
        let long = main.and_then(|v| v.attr("long_name")).and_then(|a| a.as_text()).map(str::to_string);
        let name = main.map_or_else(String::new, |v| v.name.clone());
        let get = |keys: &[&str]| keys.iter().find_map(|k| ds.facet(k)).unwrap_or_default().to_string();
        let model = get(&["source_id", "model", "rcm_name"]);
        let driving = ds.facet("driving_model").map(|d| format!(" driven by {d}")).unwrap_or_default();
        let domain = ds.facet("domain").map(|d| format!(" {d}")).unwrap_or_default();
        let exp = get(&["experiment_id", "experiment"]);
        let member = get(&["member_id", "ensemble"]);
        let freq = get(&["table_id", "cmor_table", "time_frequency"]);
        let what = long.map_or(name.clone(), |l| format!("{l} ({name})"));
        return format!("{what}, {model}{domain}{driving} {exp} {member} {freq}").trim().to_string();
    }
    ds.attr("title").and_then(|a| a.as_text()).map_or_else(|| ds.id.clone(), str::to_string)
}

/// The dataset's 1-D coordinate values: the first file's, and time joined (records
/// left out at file boundaries skipped, rebased) when its values are all known and
/// reading them back gives the same numbers (floats, or integers not rebased).
fn coordinate_values(
    ds: &Dataset,
    mut coords: Vec<(String, Vec<f64>)>,
    times: &[&Option<Vec<f64>>],
) -> Vec<(String, Vec<f64>)> {
    let Some(t) = cf::time_coordinate(ds).filter(|t| t.dims.len() == 1 && t.dtype.is_numeric()) else {
        return coords;
    };
    let rebased = ds.join.as_ref().is_some_and(|j| j.rebase.iter().any(Option::is_some));
    let exact = matches!(t.dtype, crate::DataType::F64 | crate::DataType::F32) || !rebased;
    let skip = |k: usize| ds.join.as_ref().map_or(0, |j| j.skip[k]);
    let mut all = Vec::with_capacity(t.shape[0]);
    for (k, v) in times.iter().enumerate() {
        match v {
            Some(v) => all.extend_from_slice(v.get(skip(k)..).unwrap_or_default()),
            None => return coords,
        }
    }
    if exact && all.len() == t.shape[0] && all.len() <= super::MAX_COORD_VALUES {
        coords.push((t.name.clone(), all));
    }
    coords
}

/// One file of a joined dataset as a dataset of its own (id: its relative path): all
/// its records, time in the dataset's units.
pub(super) fn file_entry(e: &super::Entry, i: usize) -> super::Entry {
    let ds = &e.dataset;
    let file = ds.files[i].clone();
    let mut d = (**ds).clone();
    if let Some(join) = &ds.join {
        let n = join.offsets[i + 1] - join.offsets[i] + join.skip[i];
        for dim in d.dims.iter_mut().filter(|x| x.name == join.dim) {
            dim.len = n;
        }
        for v in d.vars.iter_mut().filter(|v| v.joined) {
            if let Some(jd) = v.dims.iter().position(|x| *x == join.dim) {
                v.shape[jd] = n;
            }
        }
        d.join = Some(Join {
            dim: join.dim.clone(),
            offsets: vec![0, n],
            skip: vec![0],
            rebase: vec![join.rebase[i]],
            rebased: join.rebased.clone(),
        });
    }
    let name = file.rel.rsplit('/').next().unwrap_or(&file.rel).to_string();
    d.id = file.rel.clone();
    d.title = format!("{} — {name}", ds.title);
    d.files = vec![file];
    d.warnings.clear();
    // the joined coordinate's values are the whole dataset's
    d.coords.retain(|(n, _)| ds.var(n).is_none_or(|v| !v.joined));
    let (etag, modified) = validator(&d.files);
    d.etag = etag;
    d.last_modified = modified;
    super::Entry { dataset: Arc::new(d), extent: Extent { time: None, bbox: e.extent.bbox } }
}

/// A strong validator (hash of relative paths, sizes and mtimes) and the newest mtime.
pub(super) fn validator(files: &[SourceFile]) -> (String, SystemTime) {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut newest = SystemTime::UNIX_EPOCH;
    for f in files {
        (&f.rel, f.size, f.mtime).hash(&mut h);
        newest = newest.max(f.mtime);
    }
    (format!("{:016x}", h.finish()), newest)
}

fn extent(ds: &Dataset, times: &[&Option<Vec<f64>>], bbox: Option<[f64; 4]>) -> Extent {
    let time = cf::time_coordinate(ds).and_then(|t| {
        let tu = cf::time_units(t)?;
        let first = times.first()?.as_ref()?.first().copied()?;
        let last = times.last()?.as_ref()?.last().copied()?;
        Some(TimeExtent {
            start: tu.decode(first)?.to_string(),
            end: tu.decode(last)?.to_string(),
            calendar: tu.calendar.name().to_string(),
        })
    });
    Extent { time, bbox }
}

fn units_text(infos: &[Arc<FileInfo>], i: usize, name: &str) -> String {
    infos[i]
        .header
        .vars
        .iter()
        .find(|v| v.name == name)
        .and_then(|v| v.attr("units"))
        .and_then(|u| u.as_text())
        .unwrap_or("")
        .to_string()
}
