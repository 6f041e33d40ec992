//! Writing process results: CF NetCDF-4 files (deflate 1 + shuffle, no `_FillValue` on
//! coordinates and bounds, a `history` line), named in the ESGF style and split along
//! time above a size limit, with their sizes and SHA-256 checksums.

use crate::cf;
use crate::encode::netcdf::{write_file, Constant, NcOptions, OutDim, OutFile, OutVar};
use crate::model::{AttrValue, Attribute, DataType, Dataset, Variable};
use crate::read::Reader;
use crate::{Error, Result};
use serde::Serialize;
use std::io::Read;
use std::path::Path;

/// Attributes that describe stored (packed, fill-marked) values and no longer apply
/// once values are decoded into a computed field (a mean, a regridded variable).
pub const STORAGE_ATTRS: &[&str] =
    &["scale_factor", "add_offset", "valid_range", "valid_min", "valid_max", "_FillValue", "missing_value"];

/// A file a process produced.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct OutputFile {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// The SHA-256 of a file, as hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

/// `YYYYMM`, `YYYYMMDD`, ... as ESGF names files of this frequency.
fn stamp(d: &cf::DateTime, freq: &str) -> String {
    let f = freq.to_ascii_lowercase();
    if f.starts_with("yr") || f == "year" || f.ends_with("yr") && !f.contains("hr") {
        format!("{:04}", d.year)
    } else if f.starts_with("mon") || f.ends_with("mon") {
        format!("{:04}{:02}", d.year, d.month)
    } else if f.contains("hr") {
        format!("{:04}{:02}{:02}{:02}{:02}", d.year, d.month, d.day, d.hour, d.minute)
    } else {
        format!("{:04}{:02}{:02}", d.year, d.month, d.day)
    }
}

/// The frequency of a dataset (`mon`, `day`, ...), from its facets or attributes.
pub fn frequency(ds: &Dataset) -> String {
    let table = ds.facet("table_id").or_else(|| ds.facet("cmor_table")).unwrap_or("");
    ds.facet("time_frequency")
        .or_else(|| ds.attr("frequency").and_then(AttrValue::as_text))
        .map(str::to_string)
        .unwrap_or_else(|| {
            let t = table.to_ascii_lowercase();
            if t.ends_with("mon") {
                "mon".into()
            } else if t.contains("day") {
                "day".into()
            } else {
                String::new()
            }
        })
}

/// The ESGF-style file name of output of `var` from `ds`, covering `range` (first and
/// last time, if any), with `extra` (e.g. `_avg-xy`) before the extension.
pub fn file_name(ds: &Dataset, var: &str, range: Option<(cf::DateTime, cf::DateTime)>, extra: &str) -> String {
    let f = |k: &str| {
        ds.facet(k).map(str::to_string).or_else(|| ds.attr(k).and_then(AttrValue::as_text).map(str::to_string))
    };
    let get = |keys: &[&str], default: &str| keys.iter().find_map(|k| f(k)).unwrap_or_else(|| default.to_string());
    let project = ds
        .facets
        .first()
        .map(|(_, v)| v.to_ascii_lowercase())
        .or_else(|| f("mip_era").or_else(|| f("project_id")).map(|p| p.to_ascii_lowercase()))
        .unwrap_or_default();
    let freq = frequency(ds);
    let parts: Vec<String> = match project.as_str() {
        "cmip6" => vec![
            var.to_string(),
            get(&["table_id"], "no-table"),
            get(&["source_id"], "no-model"),
            get(&["experiment_id"], "no-expt"),
            get(&["member_id", "variant_label"], "rXiXpXfX"),
            get(&["grid_label"], "no-grid"),
        ],
        "cmip5" => vec![
            var.to_string(),
            get(&["cmor_table", "table_id"], "no-table"),
            get(&["model", "model_id"], "no-model"),
            get(&["experiment", "experiment_id"], "no-expt"),
            get(&["ensemble"], "rXiXpX"),
        ],
        "cordex" => vec![
            var.to_string(),
            get(&["domain", "CORDEX_domain"], "no-domain"),
            get(&["driving_model", "driving_model_id"], "no-driver"),
            get(&["experiment", "experiment_id"], "no-expt"),
            get(&["ensemble", "driving_model_ensemble_member"], "rXiXpX"),
            get(&["rcm_name", "model_id"], "no-model"),
            get(&["rcm_version", "rcm_version_id"], "vX"),
            if freq.is_empty() { "no-freq".into() } else { freq.clone() },
        ],
        _ => {
            let last = ds.id.rsplit('/').next().unwrap_or(&ds.id);
            let stem = last.rsplit_once('.').map_or(last, |(s, _)| s);
            vec![var.to_string(), stem.to_string()]
        }
    };
    let mut name = parts.join("_");
    if let Some((a, b)) = range {
        name.push_str(&format!("_{}-{}", stamp(&a, &freq), stamp(&b, &freq)));
    }
    name.push_str(extra);
    name.push_str(".nc");
    name.replace(['/', ' '], "-")
}

/// Make a result CF-1.7 clean: `Conventions` names CF-1.7; variables named by
/// `cell_measures` but not in the file are declared in `external_variables`; no
/// `_FillValue` on coordinates and bounds; data variables with only `missing_value` also
/// get it as `_FillValue`.
pub fn clean_fill_values(ds: &Dataset, out: &mut OutFile) {
    let conventions =
        out.attrs.iter().find(|a| a.name == "Conventions").and_then(|a| a.value.as_text()).unwrap_or("").to_string();
    let others: Vec<&str> = conventions.split([' ', ',']).filter(|t| !t.is_empty() && !t.starts_with("CF-")).collect();
    let text = std::iter::once("CF-1.7").chain(others).collect::<Vec<_>>().join(" ");
    out.attrs.retain(|a| a.name != "Conventions");
    out.attrs.insert(0, Attribute { name: "Conventions".into(), value: AttrValue::Text(text) });
    let present: std::collections::BTreeSet<String> = out.vars.iter().map(|v| v.name.clone()).collect();
    let mut external: Vec<String> = out
        .attrs
        .iter()
        .find(|a| a.name == "external_variables")
        .and_then(|a| a.value.as_text())
        .map(|t| t.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    for v in &out.vars {
        if let Some(m) = v.attrs.iter().find(|a| a.name == "cell_measures").and_then(|a| a.value.as_text()) {
            for name in m.split_whitespace().filter(|w| !w.ends_with(':')) {
                if !present.contains(name) && !external.iter().any(|e| e == name) {
                    external.push(name.to_string());
                }
            }
        }
    }
    if !external.is_empty() {
        out.attrs.retain(|a| a.name != "external_variables");
        out.attrs.push(Attribute { name: "external_variables".into(), value: AttrValue::Text(external.join(" ")) });
    }
    let aux = cf::auxiliary_names(ds);
    for v in &mut out.vars {
        let is_coord = v.dims.len() == 1 && v.dims[0] == v.name
            || aux.contains(&v.name)
            || v.name.ends_with("_bnds")
            || v.name.ends_with("_bounds")
            || v.name.starts_with("vertices_");
        if is_coord {
            v.attrs.retain(|a| a.name != "_FillValue" && a.name != "missing_value");
        } else if !v.attrs.iter().any(|a| a.name == "_FillValue") {
            if let Some(mv) = v.attrs.iter().find(|a| a.name == "missing_value").cloned() {
                v.attrs.push(Attribute { name: "_FillValue".into(), value: mv.value });
            }
        }
    }
}

/// Write one output file and describe it.
pub fn write_output(reader: &Reader, out: &OutFile, dir: &Path, name: &str, history: &str) -> Result<OutputFile> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.partial"));
    let opts = NcOptions { deflate: 1, shuffle: true, history: history.to_string(), ..NcOptions::default() };
    write_file(reader, out, &tmp, &opts)?;
    std::fs::rename(&tmp, &path)?;
    let size = std::fs::metadata(&path)?.len();
    Ok(OutputFile { name: name.to_string(), size, sha256: sha256_file(&path)? })
}

/// Split `n` time steps of an output of `bytes` into pieces of at most `limit` bytes:
/// the number of time steps per file.
pub fn steps_per_file(n: usize, bytes: u64, limit: u64) -> Result<usize> {
    if bytes <= limit || n <= 1 {
        return Ok(n.max(1));
    }
    let per = (u128::from(limit) * n as u128 / u128::from(bytes.max(1))) as usize;
    if per == 0 {
        return Err(Error::bad(format!("one time step is larger than the output file limit of {limit} bytes")));
    }
    Ok(per)
}

/// A text attribute.
pub fn text_attr(name: &str, value: &str) -> Attribute {
    Attribute { name: name.into(), value: AttrValue::Text(value.into()) }
}

/// The time coordinate `t` of an output along `tdim` with the values `times`: its
/// attributes but `_FillValue` and `bounds`.
pub fn time_var(t: &Variable, tdim: &str, times: Vec<f64>) -> OutVar {
    OutVar {
        name: t.name.clone(),
        dtype: DataType::F64,
        dims: vec![tdim.to_string()],
        attrs: t.attrs.iter().filter(|a| !["_FillValue", "bounds"].contains(&a.name.as_str())).cloned().collect(),
        chunks: None,
        source: Constant::f64(&[times.len()], times),
    }
}

/// Add to `out` a time axis of periods (their first instant and the first instant
/// after them, encoded with `tu`): the unlimited dimension of the time coordinate
/// `t`, a `bnds` dimension, `t` with its attributes and a bounds variable.
pub fn period_time_axis(
    out: &mut OutFile,
    t: &Variable,
    tu: &cf::TimeUnits,
    periods: &[(cf::DateTime, cf::DateTime)],
) -> crate::Result<()> {
    let tdim = t.dims.first().cloned().ok_or_else(|| Error::Internal("time without dimension".into()))?;
    let np = periods.len();
    out.dims.push(OutDim { name: tdim.clone(), len: np, unlimited: true });
    if !out.dims.iter().any(|d| d.name == "bnds") {
        out.dims.push(OutDim { name: "bnds".into(), len: 2, unlimited: false });
    }
    let tb_name = t.attr("bounds").and_then(AttrValue::as_text).map_or_else(|| format!("{tdim}_bnds"), str::to_string);
    let starts: Vec<f64> = periods.iter().map(|p| tu.encode(&p.0)).collect::<crate::Result<_>>()?;
    let bnds: Vec<f64> = periods
        .iter()
        .map(|p| Ok([tu.encode(&p.0)?, tu.encode(&p.1)?]))
        .collect::<crate::Result<Vec<[f64; 2]>>>()?
        .concat();
    let mut time = time_var(t, &tdim, starts);
    time.attrs.push(text_attr("bounds", &tb_name));
    out.vars.push(time);
    out.vars.push(OutVar {
        name: tb_name,
        dtype: DataType::F64,
        dims: vec![tdim, "bnds".into()],
        attrs: vec![],
        chunks: None,
        source: Constant::f64(&[np, 2], bnds),
    });
    Ok(())
}
