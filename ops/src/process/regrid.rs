//! The `regrid` operation (rook's inputs: `method`, `grid`, `custom_grid`, plus
//! `adaptive_masking_threshold` and `output_format`) and the `reproject` operation
//! (`crs`, `resolution`, `area`, `method`, `output_format`): every data variable on the
//! dataset's horizontal grid is regridded; results are CF NetCDF-4 files named with
//! rook's suffix `_regrid-<method>-<nlat>x<nlon>_cells_grid` (split along time above
//! the file size limit) or GeoTIFF/COG files of the main variable.

use super::output::{clean_fill_values, file_name, sha256_file, steps_per_file, write_output, OutputFile};
use super::params::Area;
use super::run::text;
use super::select::values;
use super::RunContext;
use crate::cf;
use crate::model::{Dataset, Variable};
use crate::regrid::output::{regriddable, regridded_file, write_geotiff};
use crate::regrid::target::{is_lonlat, normalize_crs};
use crate::regrid::{GridSpec, Method, Plan, SourceGrid, Target};
use crate::{Error, Result};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The file format of results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum OutputFormat {
    NetCdf,
    GeoTiff,
    Cog,
}

impl OutputFormat {
    /// Parse `netcdf`, `geotiff`, `cog`.
    pub fn parse(s: &str) -> Result<OutputFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "netcdf" | "nc" | "netcdf4" => Ok(OutputFormat::NetCdf),
            "geotiff" | "tif" | "tiff" | "gtiff" => Ok(OutputFormat::GeoTiff),
            "cog" => Ok(OutputFormat::Cog),
            other => Err(Error::bad(format!("'{other}' is not an output format: use netcdf, geotiff or cog"))),
        }
    }
}

/// What a `regrid` asks for.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RegridRequest {
    pub method: Method,
    pub grid: GridSpec,
    pub threshold: f64,
    pub format: OutputFormat,
}

fn invalid(input: &'static str) -> impl Fn(Error) -> Error {
    move |e| match e {
        Error::BadRequest(m) => Error::InvalidInput { input: input.to_string(), message: m },
        other => other,
    }
}

fn number(inputs: &Map<String, Value>, key: &'static str) -> Result<Option<f64>> {
    match text(inputs, key).map(|t| t.trim().to_string()).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => t
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| Error::InvalidInput { input: key.into(), message: format!("'{t}' is not a number") }),
    }
}

/// The regrid parameters of process inputs.
pub fn regrid_request(inputs: &Map<String, Value>) -> Result<RegridRequest> {
    let method =
        Method::parse(&text(inputs, "method").unwrap_or_else(|| "nearest_s2d".into())).map_err(invalid("method"))?;
    let grid =
        GridSpec::parse(text(inputs, "grid").as_deref(), text(inputs, "custom_grid").as_deref()).map_err(|e| {
            let input = if text(inputs, "grid").is_some_and(|g| g.eq_ignore_ascii_case("custom")) {
                "custom_grid"
            } else {
                "grid"
            };
            match e {
                Error::BadRequest(m) => Error::InvalidInput { input: input.into(), message: m },
                other => other,
            }
        })?;
    let threshold = number(inputs, "adaptive_masking_threshold")?.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&threshold) {
        return Err(Error::InvalidInput {
            input: "adaptive_masking_threshold".into(),
            message: format!("{threshold} must lie within 0..1"),
        });
    }
    let format =
        OutputFormat::parse(&text(inputs, "output_format").unwrap_or_default()).map_err(invalid("output_format"))?;
    Ok(RegridRequest { method, grid, threshold, format })
}

/// What a `reproject` asks for.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReprojectRequest {
    pub crs: String,
    pub resolution: Option<(f64, f64)>,
    pub area: Option<Area>,
    pub method: Method,
    pub format: OutputFormat,
}

/// Parse a resolution: one number, or `dx,dy`.
pub fn parse_resolution(s: &str) -> Result<(f64, f64)> {
    let v: Vec<f64> = s
        .split([',', ' '])
        .filter(|x| !x.is_empty())
        .map(|x| x.parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0))
        .collect::<Option<_>>()
        .ok_or_else(|| Error::bad(format!("resolution '{s}' must be one or two positive numbers (x,y)")))?;
    match v.as_slice() {
        [d] => Ok((*d, *d)),
        [x, y] => Ok((*x, *y)),
        _ => Err(Error::bad(format!("resolution '{s}' must be one or two positive numbers (x,y)"))),
    }
}

/// The reproject parameters of process inputs.
pub fn reproject_request(inputs: &Map<String, Value>) -> Result<ReprojectRequest> {
    let crs = text(inputs, "crs").filter(|c| !c.trim().is_empty()).ok_or_else(|| Error::MissingInput("crs".into()))?;
    crate::geotiff::crs_wkt(&normalize_crs(&crs)).map_err(invalid("crs"))?;
    let resolution = text(inputs, "resolution")
        .filter(|r| !r.trim().is_empty())
        .map(|r| parse_resolution(&r))
        .transpose()
        .map_err(invalid("resolution"))?;
    let area = text(inputs, "area").map(|a| Area::parse(&a)).transpose().map_err(invalid("area"))?.flatten();
    let method =
        Method::parse(&text(inputs, "method").unwrap_or_else(|| "nearest_s2d".into())).map_err(invalid("method"))?;
    if method == Method::Conservative && !is_lonlat(&crs) {
        return Err(Error::InvalidInput {
            input: "method".into(),
            message: "conservative needs a latitude-longitude target; use nearest_s2d or bilinear to reproject".into(),
        });
    }
    let format = OutputFormat::parse(&text(inputs, "output_format").unwrap_or_else(|| "geotiff".into()))
        .map_err(invalid("output_format"))?;
    Ok(ReprojectRequest { crs, resolution, area, method, format })
}

/// The main variable of a dataset (the one whose grid is used).
fn main_variable(ds: &Dataset) -> Result<&Variable> {
    cf::main_variable(ds)
        .filter(|v| v.dims.len() >= 2)
        .ok_or_else(|| Error::bad(format!("dataset '{}' has no gridded data variable to regrid", ds.id)))
}

/// Time indices per output file: the time dimension (when an outer dimension of the
/// main variable) split by the file size limit.
fn time_chunks(
    ds: &Dataset,
    main: &Variable,
    per_step_bytes: u64,
    limit: u64,
) -> Result<(Option<String>, Vec<Vec<usize>>)> {
    let n = main.dims.len();
    let t = cf::time_coordinate(ds).and_then(|t| t.dims.first().cloned()).filter(|d| main.dims[..n - 2].contains(d));
    let Some(tdim) = t else { return Ok((None, vec![vec![]])) };
    let len = ds.dim(&tdim).map_or(0, |d| d.len);
    let per = steps_per_file(len, per_step_bytes.saturating_mul(len as u64), limit)?;
    let all: Vec<usize> = (0..len).collect();
    Ok((Some(tdim), all.chunks(per).map(<[usize]>::to_vec).collect()))
}

fn time_range(ctx: &RunContext, ds: &Dataset, idx: &[usize]) -> Result<Option<(cf::DateTime, cf::DateTime)>> {
    let Some(t) = cf::time_coordinate(ds) else { return Ok(None) };
    let Some(tu) = cf::time_units(t) else { return Ok(None) };
    let tv = values(&ctx.engine.reader, ds, t)?;
    Ok(match (idx.first(), idx.last()) {
        (Some(&a), Some(&b)) => tu.decode(tv[a]).zip(tu.decode(tv[b])),
        _ => None,
    })
}

/// Write the regridded dataset with `plan` into `ctx.out_dir`.
fn write_results(
    ctx: &mut RunContext,
    ds: &Arc<Dataset>,
    plan: &Arc<Plan>,
    format: OutputFormat,
    suffix: &str,
) -> Result<Vec<OutputFile>> {
    let main = main_variable(ds)?;
    let vars = regriddable(ds, main);
    let (ny, nx) = plan.target.shape();
    let per_step: u64 = if format == OutputFormat::NetCdf {
        vars.iter()
            .map(|v| {
                let n = v.dims.len();
                let other: usize = v.dims[..n - 2].iter().zip(&v.shape).skip(1).map(|(_, &l)| l).product();
                (other * ny * nx * crate::regrid::field::output_type(v).size()) as u64
            })
            .sum()
    } else {
        (ny * nx * crate::regrid::field::output_type(main).size()) as u64
    };
    let (tdim, chunks) = time_chunks(ds, main, per_step.max(1), ctx.file_limit)?;
    let mut files = Vec::new();
    for (k, idx) in chunks.iter().enumerate() {
        let mut sel = BTreeMap::new();
        if let Some(d) = &tdim {
            sel.insert(d.clone(), idx.clone());
        }
        let range = if tdim.is_some() { time_range(ctx, ds, idx)? } else { None };
        let name = file_name(ds, &main.name, range, suffix);
        #[allow(clippy::cast_precision_loss)]
        let frac = 0.1 + 0.85 * k as f64 / chunks.len() as f64;
        match format {
            OutputFormat::NetCdf => {
                (ctx.progress)(frac, &format!("writing {name}"))?;
                let mut out = regridded_file(&ctx.engine.reader, ds, plan, &vars, &sel)?;
                clean_fill_values(ds, &mut out);
                files.push(write_output(&ctx.engine.reader, &out, ctx.out_dir, &name, &ctx.history)?);
            }
            OutputFormat::GeoTiff | OutputFormat::Cog => {
                let name = format!("{}.tif", name.strip_suffix(".nc").unwrap_or(&name));
                (ctx.progress)(frac, &format!("writing {name}"))?;
                let path = ctx.out_dir.join(&name);
                let tmp = ctx.out_dir.join(format!(".{name}.partial.tif"));
                write_geotiff(
                    &ctx.engine.reader,
                    ds,
                    main,
                    plan,
                    &sel,
                    format == OutputFormat::Cog,
                    &ctx.history,
                    &tmp,
                )?;
                std::fs::rename(&tmp, &path)?;
                let aux = ctx.out_dir.join(format!(".{name}.partial.tif.aux.xml"));
                if aux.is_file() {
                    std::fs::rename(&aux, ctx.out_dir.join(format!("{name}.aux.xml")))?;
                }
                let size = std::fs::metadata(&path)?.len();
                files.push(OutputFile { name: name.clone(), size, sha256: sha256_file(&path)? });
                let aux_name = format!("{name}.aux.xml");
                let aux_path = ctx.out_dir.join(&aux_name);
                if aux_path.is_file() {
                    let size = std::fs::metadata(&aux_path)?.len();
                    files.push(OutputFile { name: aux_name, size, sha256: sha256_file(&aux_path)? });
                }
            }
        }
    }
    Ok(files)
}

/// Run a regrid of one dataset into `ctx.out_dir`.
pub fn run_regrid(ctx: &mut RunContext, ds: &Arc<Dataset>, req: &RegridRequest) -> Result<Vec<OutputFile>> {
    (ctx.progress)(0.02, &format!("reading the grid of {}", ds.id))?;
    let main = main_variable(ds)?;
    let source = Arc::new(SourceGrid::of(&ctx.engine.reader, ds, main)?);
    let grid = req.grid.resolve(&ctx.engine.reader, ctx.catalog, &source)?;
    (ctx.progress)(0.04, &format!("regridding weights ({}) onto {}", req.method.name(), grid.title))?;
    let (nlat, nlon) = (grid.nlat(), grid.nlon());
    let plan = Arc::new(Plan::new(&ctx.engine.regrid, source, Target::LatLon(grid), req.method, req.threshold)?);
    let suffix = format!("_regrid-{}-{nlat}x{nlon}_cells_grid", req.method.name());
    write_results(ctx, ds, &plan, req.format, &suffix)
}

/// Run a reprojection of one dataset into `ctx.out_dir`.
pub fn run_reproject(ctx: &mut RunContext, ds: &Arc<Dataset>, req: &ReprojectRequest) -> Result<Vec<OutputFile>> {
    (ctx.progress)(0.02, &format!("reading the grid of {}", ds.id))?;
    let main = main_variable(ds)?;
    let source = Arc::new(SourceGrid::of(&ctx.engine.reader, ds, main)?);
    let target = crate::regrid::coverage::target_for(&source, &req.crs, req.area.as_ref(), req.resolution, None)?;
    let (ny, nx) = target.shape();
    let slug: String = normalize_crs(&req.crs).chars().filter(char::is_ascii_alphanumeric).take(24).collect();
    let plan = Arc::new(Plan::new(&ctx.engine.regrid, source, target, req.method, 0.5)?);
    let suffix = format!("_reproject-{}-{slug}-{ny}x{nx}", req.method.name());
    write_results(ctx, ds, &plan, req.format, &suffix)
}
