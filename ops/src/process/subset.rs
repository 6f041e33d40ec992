//! The `subset` operation: select by coordinates, write CF NetCDF-4 files split along
//! time.

use super::output::{clean_fill_values, file_name, steps_per_file, write_output, OutputFile};
use super::select::{select, values, SubsetRequest};
use super::RunContext;
use crate::cf;
use crate::encode::netcdf::selection_file;
use crate::model::Dataset;
use crate::selection::Selection;
use crate::Result;
use std::sync::Arc;

/// The time indices a subset selects (all when unconstrained) and the time dimension.
fn time_indices(ds: &Dataset, subset: &Selection) -> Option<(String, Vec<usize>)> {
    let t = cf::time_coordinate(ds)?;
    let dim = t.dims.first()?.clone();
    let n = ds.dim(&dim)?.len;
    let idx = subset.sel(&dim, n).indices();
    Some((dim, idx))
}

/// Run a subset of one dataset into `ctx.out_dir`.
pub fn run_subset(ctx: &mut RunContext, ds: &Arc<Dataset>, req: &SubsetRequest) -> Result<Vec<OutputFile>> {
    (ctx.progress)(0.02, &format!("selecting in {}", ds.id))?;
    let subset = select(&ctx.engine.reader, ds, req)?;
    let main = cf::main_variable(ds).map_or_else(|| "data".to_string(), |v| v.name.clone());
    let var_name = if req.variables.len() == 1 { req.variables[0].clone() } else { main };
    let mut files = Vec::new();
    let whole = selection_file(ds, &subset);
    let Some((tdim, idx)) = time_indices(ds, &subset).filter(|(d, _)| whole.dims.iter().any(|x| x.name == *d)) else {
        let mut out = whole;
        clean_fill_values(ds, &mut out);
        let name = file_name(ds, &var_name, None, "");
        files.push(write_output(&ctx.engine.reader, &out, ctx.out_dir, &name, &ctx.history)?);
        return Ok(files);
    };
    let t = cf::time_coordinate(ds).ok_or_else(|| crate::Error::Internal("time coordinate vanished".into()))?;
    let tu = cf::time_units(t);
    let tv = values(&ctx.engine.reader, ds, t)?;
    let per = steps_per_file(idx.len(), whole.size(), ctx.file_limit)?;
    let chunks: Vec<&[usize]> = idx.chunks(per).collect();
    for (k, chunk) in chunks.iter().enumerate() {
        let mut part = subset.clone();
        part.dims.insert(tdim.clone(), crate::selection::DimSel::from_indices(chunk));
        let mut out = selection_file(ds, &part);
        clean_fill_values(ds, &mut out);
        let range = tu.and_then(|u| Some((u.decode(tv[*chunk.first()?])?, u.decode(tv[*chunk.last()?])?)));
        let name = file_name(ds, &var_name, range, "");
        #[allow(clippy::cast_precision_loss)]
        let frac = 0.05 + 0.9 * k as f64 / chunks.len() as f64;
        (ctx.progress)(frac, &format!("writing {name}"))?;
        files.push(write_output(&ctx.engine.reader, &out, ctx.out_dir, &name, &ctx.history)?);
    }
    Ok(files)
}
