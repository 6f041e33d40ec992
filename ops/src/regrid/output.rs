//! Regridded results as files: CF NetCDF (latitude/longitude with bounds, or projected
//! x/y with the CRS and 2-D latitude/longitude; attributes kept, grid-specific ones
//! dropped) and GeoTIFF/COG (one band per time step and level, with their times,
//! units and variable names).

use super::field::{output_fill, output_type, Decode, Plan, RegridVar};
use super::target::{normalize_crs, Target};
use crate::array::Data;
use crate::cf;
use crate::encode::netcdf::{selection_file, Constant, OutDim, OutFile, OutVar};
use crate::geotiff::{BandInfo, GeoTiff};
use crate::hyperslab::DimRange;
use crate::model::{AttrValue, Attribute, DataType, Dataset, Variable};
use crate::process::output::STORAGE_ATTRS;
use crate::process::select::values;
use crate::read::Reader;
use crate::selection::{DimSel, Selection};
use crate::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

fn text(name: &str, v: &str) -> Attribute {
    Attribute { name: name.into(), value: AttrValue::Text(v.into()) }
}

fn constant(name: &str, dims: &[&str], shape: &[usize], data: Data, attrs: Vec<Attribute>) -> OutVar {
    OutVar {
        name: name.into(),
        dtype: data.dtype(),
        dims: dims.iter().map(|d| d.to_string()).collect(),
        attrs,
        chunks: None,
        source: Box::new(Constant { shape: shape.to_vec(), data }),
    }
}

/// The data variables of a dataset that can be regridded with the grid of `main`:
/// numeric, with the same two horizontal dimensions last.
pub fn regriddable<'a>(ds: &'a Dataset, main: &Variable) -> Vec<&'a Variable> {
    let n = main.dims.len();
    let h = &main.dims[n.saturating_sub(2)..];
    cf::data_variables(ds)
        .into_iter()
        .filter(|v| v.dtype.is_numeric() && v.dims.len() >= 2 && v.dims[v.dims.len() - 2..] == *h)
        .collect()
}

/// The outer (non-horizontal) dimensions of a variable with their selected indices
/// (from `sel`, else all).
pub fn outer_selection(v: &Variable, sel: &BTreeMap<String, Vec<usize>>) -> Vec<Vec<usize>> {
    let n = v.dims.len();
    v.dims[..n - 2]
        .iter()
        .zip(&v.shape)
        .map(|(d, &len)| sel.get(d).cloned().unwrap_or_else(|| (0..len).collect()))
        .collect()
}

/// Attributes of a regridded variable: grid references and packing dropped, a float
/// fill value.
fn regridded_attrs(
    v: &Variable,
    dtype: DataType,
    fill: f64,
    keep_coords: &BTreeSet<String>,
    extra_coords: &str,
    grid_mapping: Option<&str>,
) -> Vec<Attribute> {
    let mut attrs: Vec<Attribute> = v
        .attrs
        .iter()
        .filter(|a| {
            !STORAGE_ATTRS.contains(&a.name.as_str())
                && !matches!(
                    a.name.as_str(),
                    "grid_mapping"
                        | "cell_measures"
                        | "coordinates"
                        | "_ChunkSizes"
                        | "_Storage"
                        | "_DeflateLevel"
                        | "_Shuffle"
                        | "_Endianness"
                )
        })
        .cloned()
        .collect();
    #[allow(clippy::cast_possible_truncation)]
    let f = if dtype == DataType::F64 { AttrValue::F64(vec![fill]) } else { AttrValue::F32(vec![fill as f32]) };
    attrs.insert(0, Attribute { name: "_FillValue".into(), value: f.clone() });
    attrs.push(Attribute { name: "missing_value".into(), value: f });
    let mut coords: Vec<String> = v
        .attr("coordinates")
        .and_then(AttrValue::as_text)
        .map(|c| c.split_whitespace().filter(|w| keep_coords.contains(*w)).map(str::to_string).collect())
        .unwrap_or_default();
    coords.extend(extra_coords.split_whitespace().map(str::to_string));
    if !coords.is_empty() {
        attrs.push(text("coordinates", &coords.join(" ")));
    }
    if let Some(g) = grid_mapping {
        attrs.push(text("grid_mapping", g));
    }
    attrs
}

/// Describe the regridded variables `vars` of `ds` (outer dimensions selected by
/// `sel`) as a CF NetCDF file.
pub fn regridded_file(
    reader: &Reader,
    ds: &Arc<Dataset>,
    plan: &Arc<Plan>,
    vars: &[&Variable],
    sel: &BTreeMap<String, Vec<usize>>,
) -> Result<OutFile> {
    let (ydim, xdim) = (plan.source.y_dim.clone(), plan.source.x_dim.clone());
    let horizontal = |v: &Variable| v.dims.contains(&ydim) || v.dims.contains(&xdim);
    let mappings: BTreeSet<String> = ds
        .vars
        .iter()
        .filter_map(|v| v.attr("grid_mapping").and_then(AttrValue::as_text))
        .map(|m| m.split(':').next().unwrap_or(m).trim().to_string())
        .collect();
    let regridded: BTreeSet<&str> = vars.iter().map(|v| v.name.as_str()).collect();
    // other variables without horizontal dimensions come along (time, bounds, height)
    let keep: Vec<String> = ds
        .vars
        .iter()
        .filter(|v| !horizontal(v) && !mappings.contains(&v.name) && !regridded.contains(v.name.as_str()))
        .filter(|v| v.dtype.is_atomic())
        .map(|v| v.name.clone())
        .collect();
    let keep_set: BTreeSet<String> = keep.iter().cloned().collect();
    let mut subset = Selection::of_vars(keep);
    for (d, idx) in sel {
        subset.dims.insert(d.clone(), DimSel::from_indices(idx));
    }
    let mut out = selection_file(ds, &subset);
    let (ny, nx) = plan.target.shape();
    let add_dim = |out: &mut OutFile, name: &str, len: usize, unlimited: bool| {
        if !out.dims.iter().any(|d| d.name == name) {
            out.dims.push(OutDim { name: name.into(), len, unlimited });
        }
    };
    let (extra_coords, grid_mapping, hdims): (String, Option<String>, [String; 2]) = match &plan.target {
        Target::LatLon(g) => {
            add_dim(&mut out, "lat", ny, false);
            add_dim(&mut out, "lon", nx, false);
            add_dim(&mut out, "bnds", 2, false);
            let lb: Vec<f64> = g.lat_bnds.iter().flat_map(|b| [b[0], b[1]]).collect();
            let ob: Vec<f64> = g.lon_bnds.iter().flat_map(|b| [b[0], b[1]]).collect();
            out.vars.push(constant(
                "lat",
                &["lat"],
                &[ny],
                Data::F64(g.lat.clone()),
                vec![
                    text("standard_name", "latitude"),
                    text("long_name", "latitude"),
                    text("units", "degrees_north"),
                    text("axis", "Y"),
                    text("bounds", "lat_bnds"),
                ],
            ));
            out.vars.push(constant("lat_bnds", &["lat", "bnds"], &[ny, 2], Data::F64(lb), vec![]));
            out.vars.push(constant(
                "lon",
                &["lon"],
                &[nx],
                Data::F64(g.lon.clone()),
                vec![
                    text("standard_name", "longitude"),
                    text("long_name", "longitude"),
                    text("units", "degrees_east"),
                    text("axis", "X"),
                    text("bounds", "lon_bnds"),
                ],
            ));
            out.vars.push(constant("lon_bnds", &["lon", "bnds"], &[nx, 2], Data::F64(ob), vec![]));
            (String::new(), None, ["lat".into(), "lon".into()])
        }
        Target::Projected(p) => {
            add_dim(&mut out, "y", ny, false);
            add_dim(&mut out, "x", nx, false);
            let t = p.transform;
            #[allow(clippy::cast_precision_loss)]
            let xs: Vec<f64> = (0..nx).map(|c| t[0] + (c as f64 + 0.5) * t[1]).collect();
            #[allow(clippy::cast_precision_loss)]
            let ys: Vec<f64> = (0..ny).map(|r| t[3] + (r as f64 + 0.5) * t[5]).collect();
            let wkt = crate::geotiff::crs_wkt(&normalize_crs(&p.crs))?;
            let geographic = super::target::is_lonlat(&p.crs);
            let (xn, yn, unit) = if geographic {
                ("longitude", "latitude", "degrees")
            } else {
                ("projection_x_coordinate", "projection_y_coordinate", "m")
            };
            out.vars.push(constant(
                "x",
                &["x"],
                &[nx],
                Data::F64(xs),
                vec![
                    text("standard_name", xn),
                    text("units", if geographic { "degrees_east" } else { unit }),
                    text("axis", "X"),
                ],
            ));
            out.vars.push(constant(
                "y",
                &["y"],
                &[ny],
                Data::F64(ys),
                vec![
                    text("standard_name", yn),
                    text("units", if geographic { "degrees_north" } else { unit }),
                    text("axis", "Y"),
                ],
            ));
            let pts = p.points()?;
            let lon: Vec<f64> = pts.iter().map(|q| if q.0.is_finite() { q.0 } else { 1e20 }).collect();
            let lat: Vec<f64> = pts.iter().map(|q| if q.1.is_finite() { q.1 } else { 1e20 }).collect();
            let fill = || Attribute { name: "_FillValue".into(), value: AttrValue::F64(vec![1e20]) };
            out.vars.push(constant(
                "lat",
                &["y", "x"],
                &[ny, nx],
                Data::F64(lat),
                vec![text("standard_name", "latitude"), text("units", "degrees_north"), fill()],
            ));
            out.vars.push(constant(
                "lon",
                &["y", "x"],
                &[ny, nx],
                Data::F64(lon),
                vec![text("standard_name", "longitude"), text("units", "degrees_east"), fill()],
            ));
            out.vars.push(constant(
                "crs",
                &[],
                &[],
                Data::I32(vec![0]),
                vec![text("crs_wkt", &wkt), text("spatial_ref", &wkt), text("proj_definition", &normalize_crs(&p.crs))],
            ));
            ("lat lon".into(), Some("crs".to_string()), ["y".into(), "x".into()])
        }
        Target::Native(_) => {
            return Err(Error::Internal("a native window is written as a subset, not regridded".into()));
        }
    };
    for v in vars {
        let n = v.dims.len();
        for (d, &len) in v.dims[..n - 2].iter().zip(&v.shape) {
            let count = sel.get(d).map_or(len, Vec::len);
            add_dim(&mut out, d, count, ds.dim(d).is_some_and(|x| x.unlimited));
        }
        let dtype = output_type(v);
        let fill = output_fill(v);
        let mut dims: Vec<String> = v.dims[..n - 2].to_vec();
        dims.extend(hdims.iter().cloned());
        let mut chunks = vec![1; n - 2];
        chunks.extend([ny, nx]);
        out.vars.push(OutVar {
            name: v.name.clone(),
            dtype,
            dims,
            attrs: regridded_attrs(v, dtype, fill, &keep_set, &extra_coords, grid_mapping.as_deref()),
            chunks: Some(chunks),
            source: Box::new(RegridVar {
                ds: ds.clone(),
                var: v.name.clone(),
                plan: plan.clone(),
                outer: outer_selection(v, sel),
                dtype,
                fill,
            }),
        });
    }
    // global attributes: the grid changed
    out.attrs.retain(|a| !matches!(a.name.as_str(), "external_variables" | "grid" | "nominal_resolution"));
    let title = match &plan.target {
        Target::LatLon(g) => g.title.clone(),
        Target::Projected(p) => format!("{} grid of {}x{} pixels", normalize_crs(&p.crs), p.width, p.height),
        Target::Native(_) => String::new(),
    };
    out.attrs.push(text("grid", &title));
    out.attrs.push(text("regrid_method", plan.method.name()));
    out.attrs.push(Attribute {
        name: "regrid_adaptive_masking_threshold".into(),
        value: AttrValue::F64(vec![plan.threshold]),
    });
    let _ = reader;
    Ok(out)
}

/// Values and names of each outer dimension's selected coordinates, for band metadata.
struct OuterCoords {
    dims: Vec<String>,
    /// Per dimension: (raw value, ISO time if a time coordinate) of each selected index.
    values: Vec<Vec<(f64, Option<String>)>>,
    units: Vec<String>,
}

fn outer_coords(reader: &Reader, ds: &Dataset, v: &Variable, outer: &[Vec<usize>]) -> Result<OuterCoords> {
    let n = v.dims.len();
    let mut oc = OuterCoords { dims: v.dims[..n - 2].to_vec(), values: vec![], units: vec![] };
    for (d, idx) in v.dims[..n - 2].iter().zip(outer) {
        let coord = ds.var(d).filter(|c| c.is_coordinate() && c.dtype.is_numeric());
        let vals = match coord {
            Some(c) => values(reader, ds, c)?,
            None => (0..ds.dim(d).map_or(0, |x| x.len)).map(|i| i as f64).collect(),
        };
        let tu = coord.filter(|c| cf::is_time(c)).and_then(cf::time_units);
        oc.values.push(
            idx.iter()
                .map(|&i| {
                    let x = vals.get(i).copied().unwrap_or(f64::NAN);
                    (x, tu.and_then(|u| u.decode(x)).map(|t| t.to_string()))
                })
                .collect(),
        );
        oc.units.push(coord.and_then(|c| c.attr("units")).and_then(AttrValue::as_text).unwrap_or("").to_string());
    }
    Ok(oc)
}

/// All combinations of outer indices, row-major.
fn combos(outer: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = vec![vec![]];
    for list in outer {
        out = out.iter().flat_map(|c| (0..list.len()).map(move |k| [c.as_slice(), &[k]].concat())).collect();
    }
    out
}

/// The GeoTIFF of a regridded variable: one band per combination of the selected
/// outer indices. Returns the spec and whether rows are written in reverse order.
pub fn geotiff_spec(
    reader: &Reader,
    ds: &Dataset,
    v: &Variable,
    plan: &Plan,
    sel: &BTreeMap<String, Vec<usize>>,
    cog: bool,
    history: &str,
) -> Result<(GeoTiff, bool)> {
    let (ny, nx) = plan.target.shape();
    let (gt, crs) = match &plan.target {
        Target::LatLon(g) => (
            g.geotransform().ok_or_else(|| {
                Error::bad(
                    "the target grid is not evenly spaced, which a GeoTIFF needs; give a custom_grid or another grid",
                )
            })?,
            "EPSG:4326".to_string(),
        ),
        Target::Projected(p) => (p.transform, normalize_crs(&p.crs)),
        Target::Native(w) => (
            w.geotransform()
                .ok_or_else(|| Error::bad("the source grid is not evenly spaced; give a crs to reproject it"))?,
            w.crs.clone(),
        ),
    };
    // north-up: rows from the top
    let flip = gt[5] > 0.0;
    let gt = if flip { [gt[0], gt[1], gt[2], gt[3] + gt[5] * ny as f64, gt[4], -gt[5]] } else { gt };
    let outer = outer_selection(v, sel);
    let oc = outer_coords(reader, ds, v, &outer)?;
    let text_attr = |k: &str| v.attr(k).and_then(AttrValue::as_text).unwrap_or("").to_string();
    let unit = text_attr("units");
    let mut bands = Vec::new();
    for c in combos(&outer) {
        let mut desc = v.name.clone();
        let mut md = vec![("NETCDF_VARNAME".to_string(), v.name.clone()), ("variable".to_string(), v.name.clone())];
        for (d, &k) in c.iter().enumerate() {
            let (x, iso) = &oc.values[d][k];
            md.push((format!("NETCDF_DIM_{}", oc.dims[d]), format!("{x}")));
            match iso {
                Some(t) => {
                    desc.push_str(&format!(" {t}"));
                    md.push(("time".into(), t.clone()));
                }
                None => {
                    desc.push_str(&format!(
                        " {}={x}{}",
                        oc.dims[d],
                        if oc.units[d].is_empty() { String::new() } else { format!(" {}", oc.units[d]) }
                    ));
                    md.push((oc.dims[d].clone(), format!("{x}")));
                }
            }
        }
        for k in ["units", "standard_name", "long_name", "cell_methods"] {
            let t = text_attr(k);
            if !t.is_empty() {
                md.push((k.to_string(), t));
            }
        }
        bands.push(BandInfo { description: desc, metadata: md });
    }
    let mut metadata = vec![("variable".to_string(), v.name.clone()), ("dataset".to_string(), ds.id.clone())];
    for k in ["title", "institution", "source", "experiment_id", "frequency", "Conventions"] {
        if let Some(t) = ds.attr(k).and_then(AttrValue::as_text) {
            metadata.push((k.to_string(), t.to_string()));
        }
    }
    if !history.is_empty() {
        metadata.push(("history".into(), history.to_string()));
    }
    metadata.push(("regrid_method".into(), plan.method.name().into()));
    if let Target::Native(w) = &plan.target {
        // GeoTIFF keys cannot hold a rotated pole: GDAL keeps it beside the file
        // (.aux.xml); the definition is in the file's metadata as well
        metadata.push(("crs_proj4".into(), w.crs.clone()));
        if let Ok(wkt) = crate::geotiff::crs_wkt(&w.crs) {
            metadata.push(("crs_wkt".into(), wkt));
        }
    }
    let dtype = output_type(v);
    let spec = GeoTiff {
        width: nx,
        height: ny,
        geotransform: gt,
        crs,
        dtype,
        nodata: output_fill(v),
        unit,
        metadata,
        bands,
        cog,
    };
    Ok((spec, flip))
}

/// Write a regridded variable as GeoTIFF/COG.
#[allow(clippy::too_many_arguments)]
pub fn write_geotiff(
    reader: &Reader,
    ds: &Arc<Dataset>,
    v: &Variable,
    plan: &Arc<Plan>,
    sel: &BTreeMap<String, Vec<usize>>,
    cog: bool,
    history: &str,
    path: &Path,
) -> Result<()> {
    let (spec, flip) = geotiff_spec(reader, ds, v, plan, sel, cog, history)?;
    let outer = outer_selection(v, sel);
    let all = combos(&outer);
    let dec = Decode::of(v);
    let (ny, nx) = plan.target.shape();
    spec.write(path, |b| {
        let c = &all[b];
        let runs: Vec<DimRange> = c.iter().zip(&outer).map(|(&k, list)| DimRange::index(list[k])).collect();
        let arr = reader.read(ds, v, &plan.slab(&runs))?;
        let mut vals = plan.apply(&dec.decode(&arr.data, "exported")?);
        if flip {
            let mut rows: Vec<&[f64]> = vals.chunks(nx).collect();
            rows.reverse();
            vals = rows.concat();
        }
        debug_assert_eq!(vals.len(), ny * nx);
        Ok(vals)
    })
}
