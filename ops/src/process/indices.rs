//! The `climate_index` operation: ECA&D climate indices (icclim's names and inputs,
//! xclim's definitions) of daily data, per year, month, season or custom season.
//! Each period is read for a band of cells at a time, so memory does not grow with
//! the length of the series; a period the data does not fully cover, or with a missing
//! day, has no value (as xclim's default missing-value check).

pub mod compute;

use super::output::{clean_fill_values, file_name, write_output, OutputFile, STORAGE_ATTRS};
use super::params::TimeParam;
use super::select::{select, values, SubsetRequest};
use super::RunContext;
use crate::cf::{self, Calendar, DateTime};
use crate::encode::netcdf::{selection_file, Constant, OutDim, OutVar};
use crate::model::{AttrValue, Attribute, DataType, Dataset};
use crate::selection::{DimSel, Selection, VarSel};
use crate::{Data, Error, Result};
use compute::{Index, Input, Units};
use rayon::prelude::*;
use std::sync::Arc;

/// How the time axis is cut into periods (icclim's `slice_mode`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SliceMode {
    Year,
    /// Every month, or only these months (`month:6,7,8`).
    Months(Option<Vec<u32>>),
    /// Consecutive months (`DJF` = 12, 1, 2), one period per year.
    Season(Vec<u32>),
}

impl SliceMode {
    /// Parse `year`, `month`, `DJF`, `MAM`, `JJA`, `SON`, `ONDJFM`, `AMJJAS`,
    /// `month:4,5` or `season:11,12,1` (icclim's `["season", [11, 12, 1]]` also works).
    pub fn parse(s: &str) -> Result<SliceMode> {
        let t = s.trim();
        let bad = |why: &str| Error::InvalidInput {
            input: "slice_mode".into(),
            message: format!(
                "'{t}' {why} (use year, month, DJF, MAM, JJA, SON, ONDJFM, AMJJAS, month:4,5 or season:11,12,1)"
            ),
        };
        let words: Vec<&str> = t
            .split(|c: char| c == ',' || c == ':' || c == '[' || c == ']' || c == '"' || c.is_whitespace())
            .filter(|w| !w.is_empty())
            .collect();
        let Some((head, rest)) = words.split_first() else { return Ok(SliceMode::Year) };
        let months = || -> Result<Vec<u32>> {
            let m: Vec<u32> = rest
                .iter()
                .map(|w| {
                    w.parse::<u32>().ok().filter(|m| (1..=12).contains(m)).ok_or_else(|| bad("has a month not in 1-12"))
                })
                .collect::<Result<_>>()?;
            if m.is_empty() {
                return Err(bad("names no month"));
            }
            Ok(m)
        };
        let named = |m: &[u32]| Ok(SliceMode::Season(m.to_vec()));
        match head.to_ascii_lowercase().as_str() {
            "year" | "yearly" | "annual" | "ys" if rest.is_empty() => Ok(SliceMode::Year),
            "month" | "monthly" | "ms" if rest.is_empty() => Ok(SliceMode::Months(None)),
            "month" => Ok(SliceMode::Months(Some(months()?))),
            "season" => {
                let m = months()?;
                let consecutive = m.windows(2).all(|w| w[1] == w[0] % 12 + 1) && m.len() <= 12;
                if !consecutive {
                    return Err(bad("is not a run of consecutive months"));
                }
                Ok(SliceMode::Season(m))
            }
            "djf" => named(&[12, 1, 2]),
            "mam" => named(&[3, 4, 5]),
            "jja" => named(&[6, 7, 8]),
            "son" => named(&[9, 10, 11]),
            "ondjfm" => named(&[10, 11, 12, 1, 2, 3]),
            "amjjas" => named(&[4, 5, 6, 7, 8, 9]),
            _ => Err(bad("is not a slice mode")),
        }
    }

    /// The period a date falls in: a key, its first day and the first day after it
    /// (`None` when the date is in no period, e.g. outside the season).
    fn period(&self, d: &DateTime) -> Option<(i64, DateTime, DateTime)> {
        let add = |y: i64, m: u32, k: u32| {
            let n = i64::from(m - 1) + i64::from(k);
            DateTime::date(y + n.div_euclid(12), u32::try_from(n.rem_euclid(12)).unwrap_or(0) + 1, 1)
        };
        match self {
            SliceMode::Year => Some((d.year, DateTime::date(d.year, 1, 1), DateTime::date(d.year + 1, 1, 1))),
            SliceMode::Months(only) => only.as_ref().is_none_or(|m| m.contains(&d.month)).then(|| {
                (d.year * 12 + i64::from(d.month), DateTime::date(d.year, d.month, 1), add(d.year, d.month, 1))
            }),
            SliceMode::Season(months) => {
                let first = months[0];
                months.contains(&d.month).then(|| {
                    let y = if d.month >= first { d.year } else { d.year - 1 };
                    let len = u32::try_from(months.len()).unwrap_or(12);
                    (y, DateTime::date(y, first, 1), add(y, first, len))
                })
            }
        }
    }

    /// The name in file names and `cell_methods`.
    fn label(&self) -> String {
        const LETTERS: &str = "JFMAMJJASOND";
        match self {
            SliceMode::Year => "year".into(),
            SliceMode::Months(None) => "month".into(),
            SliceMode::Months(Some(m)) => {
                format!("month{}", m.iter().map(u32::to_string).collect::<Vec<_>>().join("-"))
            }
            SliceMode::Season(m) => m.iter().filter_map(|&k| LETTERS.chars().nth(k as usize - 1)).collect(),
        }
    }
}

/// A checked `climate_index` request.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IndexRequest {
    /// The index's name as icclim spells it (`SU`, `RX5day`).
    pub index: String,
    pub slice_mode: SliceMode,
    /// The `time` and `area` inputs.
    pub subset: SubsetRequest,
    pub out_unit: Option<String>,
    pub base_period: Option<TimeParam>,
}

impl IndexRequest {
    /// The index definition.
    pub fn definition(&self) -> Result<&'static Index> {
        compute::find(&self.index).ok_or_else(|| unknown_index(&self.index))
    }
}

/// The error for an index cirrus does not compute.
pub fn unknown_index(name: &str) -> Error {
    let known: Vec<&str> = compute::INDICES.iter().map(|i| i.name).collect();
    Error::InvalidInput {
        input: "index_name".into(),
        message: format!("'{name}' is not an index cirrus computes (indices: {})", known.join(", ")),
    }
}

/// Parse and check the inputs of `climate_index` (not yet the datasets).
pub fn request(inputs: &serde_json::Map<String, serde_json::Value>) -> Result<IndexRequest> {
    use super::run::text;
    let name = text(inputs, "index_name").ok_or_else(|| Error::MissingInput("index_name".into()))?;
    let ix = compute::find(&name).ok_or_else(|| unknown_index(&name))?;
    let slice_mode = SliceMode::parse(&text(inputs, "slice_mode").unwrap_or_default())?;
    let mut subset = super::run::subset_request(inputs)?;
    subset.variables.clear();
    let out_unit = text(inputs, "out_unit").map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
    if let Some(u) = &out_unit {
        output_units(ix, "K", Some(u))?;
    }
    let base_period = text(inputs, "base_period_time_range")
        .map(|t| TimeParam::parse(&t))
        .transpose()
        .map_err(|e| Error::InvalidInput { input: "base_period_time_range".into(), message: e.to_string() })?
        .flatten();
    Ok(IndexRequest { index: ix.name.to_string(), slice_mode, subset, out_unit, base_period })
}

/// The dataset of `datasets` that holds `input` (by variable name).
pub fn dataset_for(datasets: &[Arc<Dataset>], input: Input) -> Option<&Arc<Dataset>> {
    datasets.iter().find(|d| d.var(input.name()).is_some())
}

/// Check that the collections hold what the index reads, as daily data.
pub fn check_collections(ix: &Index, datasets: &[Arc<Dataset>]) -> Result<()> {
    for &input in ix.inputs {
        let ds = dataset_for(datasets, input).ok_or_else(|| Error::InvalidInput {
            input: "collection".into(),
            message: format!(
                "{} needs {} ({}); no collection given has a '{}' variable",
                ix.name,
                ix.inputs.iter().map(|i| i.name()).collect::<Vec<_>>().join(" and "),
                ix.long_name,
                input.name()
            ),
        })?;
        let freq = super::output::frequency(ds).to_ascii_lowercase();
        if !freq.is_empty() && freq != "day" {
            return Err(Error::InvalidInput {
                input: "collection".into(),
                message: format!("{} needs daily data; '{}' has frequency '{freq}'", ix.name, ds.id),
            });
        }
    }
    Ok(())
}

/// Units of the result and the conversion from the computed values (°C → K...).
fn output_units(ix: &Index, input_units: &str, out_unit: Option<&str>) -> Result<(String, f64, f64)> {
    let natural = if ix.units.is_empty() { input_units.to_string() } else { ix.units.to_string() };
    let Some(want) = out_unit else { return Ok((natural, 1.0, 0.0)) };
    let bad = || Error::InvalidInput {
        input: "out_unit".into(),
        message: format!("{} is in {natural}; it cannot be given in '{want}'", ix.name),
    };
    let temperature = matches!(ix.kind, compute::Kind::Mean) && ix.inputs[0] != Input::Pr;
    if temperature {
        let from = Units::of(Input::Tas, input_units).ok_or_else(bad)?;
        let to = Units::of(Input::Tas, want).ok_or_else(bad)?;
        // value in `to` = (stored * from.scale + from.offset - to.offset) / to.scale
        return Ok((want.to_string(), from.scale / to.scale, (from.offset - to.offset) / to.scale));
    }
    let same = |a: &str, b: &str| {
        let norm =
            |s: &str| s.to_ascii_lowercase().replace(['/', ' '], "").replace("day-1", "d-1").replace("dayd", "d");
        norm(a) == norm(b) || (Units::of(Input::Pr, a).is_some() && Units::of(Input::Pr, a) == Units::of(Input::Pr, b))
    };
    if same(&natural, want) || (ix.units == "K" && Units::of(Input::Tas, want).is_some()) {
        return Ok((want.to_string(), 1.0, 0.0));
    }
    Err(bad())
}

/// One input variable of the run, selected.
struct Source {
    ds: Arc<Dataset>,
    var: String,
    sel: Selection,
    units: Units,
}

/// Periods of the selected days: (first and last+1 position in the selection, first
/// day, first day after), and whether the data covers each period completely.
struct Period {
    a: usize,
    b: usize,
    start: DateTime,
    next: DateTime,
    complete: bool,
}

fn periods(days: &[i64], dates: &[DateTime], mode: &SliceMode, cal: Calendar) -> Vec<Period> {
    let mut out: Vec<(i64, Period)> = Vec::new();
    for (i, d) in dates.iter().enumerate() {
        let Some((key, start, next)) = mode.period(d) else { continue };
        match out.last_mut() {
            Some((k, p)) if *k == key && p.b == i => p.b = i + 1,
            _ => out.push((key, Period { a: i, b: i + 1, start, next, complete: false })),
        }
    }
    let day = |d: &DateTime| cal.day_number(d.year, d.month, d.day);
    for (_, p) in &mut out {
        let want = usize::try_from(day(&p.next) - day(&p.start)).unwrap_or(0);
        let run = &days[p.a..p.b];
        p.complete = run.len() == want && run.windows(2).all(|w| w[1] == w[0] + 1);
    }
    out.into_iter().map(|(_, p)| p).collect()
}

/// Values (NaN: missing) of `src` at selection time positions `t` for the cells of
/// `band` along the second dimension, in (time, cell) order.
fn read_band(
    ctx: &RunContext,
    src: &Source,
    tdim: &str,
    times: &[usize],
    band: Option<(&str, &[usize], usize)>,
) -> Result<Vec<f64>> {
    let v = src.ds.require_var(&src.var)?;
    let mut sel = src.sel.clone();
    let all_t = sel.sel(tdim, v.shape[0]).indices();
    sel.dims.insert(tdim.to_string(), DimSel::from_indices(&times.iter().map(|&k| all_t[k]).collect::<Vec<_>>()));
    let mut start = vec![0; v.shape.len()];
    if let Some((dim, idx, off)) = band {
        sel.dims.insert(dim.to_string(), DimSel::from_indices(idx));
        start[1] = off;
    }
    let arr = sel.read(&ctx.engine.reader, &src.ds, &VarSel::shared(&src.var))?;
    let data = sel.transform(v, &start, &arr.shape, arr.data);
    cf::Decode::of(v).decode(&data, "used in a climate index")
}

/// Bytes of decoded values one band may hold.
const BAND_BYTES: usize = 192 << 20;

/// Compute one index over a dataset (or the datasets its inputs come from) into
/// `ctx.out_dir`.
pub fn run_index(ctx: &mut RunContext, datasets: &[Arc<Dataset>], req: &IndexRequest) -> Result<Vec<OutputFile>> {
    let ix = req.definition()?;
    check_collections(ix, datasets)?;
    if req.base_period.is_some() {
        return Err(Error::InvalidInput {
            input: "base_period_time_range".into(),
            message: format!("{} is not a percentile index; it has no base period", ix.name),
        });
    }
    let reader = &ctx.engine.reader;
    let mut sources = Vec::new();
    for &input in ix.inputs {
        let ds = dataset_for(datasets, input).cloned().ok_or_else(|| Error::Internal("input vanished".into()))?;
        let v = ds.require_var(input.name())?;
        let units_text = v.attr("units").and_then(AttrValue::as_text).unwrap_or("");
        let units = Units::of(input, units_text).ok_or_else(|| {
            Error::bad(format!(
                "'{}' of '{}' is in '{units_text}', which cirrus cannot convert (K or degC for temperatures, kg m-2 s-1 or mm/day for precipitation)",
                v.name, ds.id
            ))
        })?;
        let mut r = req.subset.clone();
        r.variables = vec![v.name.clone()];
        let sel = select(reader, &ds, &r)?;
        sources.push(Source { var: v.name.clone(), ds, sel, units });
    }
    let first = &sources[0];
    let v = first.ds.require_var(&first.var)?;
    let t = cf::time_coordinate(&first.ds)
        .filter(|t| v.dims.first() == t.dims.first())
        .ok_or_else(|| Error::bad(format!("'{}' of '{}' has no time as its first dimension", v.name, first.ds.id)))?;
    let tdim = t.dims[0].clone();
    let tu = cf::time_units(t).ok_or_else(|| Error::bad(format!("the time of '{}' cannot be decoded", first.ds.id)))?;
    let cal = tu.calendar;
    // the selected days, the same for every input
    let mut days: Option<Vec<i64>> = None;
    let mut dates = Vec::new();
    for s in &sources {
        let tv = values(reader, &s.ds, cf::time_coordinate(&s.ds).unwrap_or(t))?;
        let tus = cf::time_units(cf::time_coordinate(&s.ds).unwrap_or(t)).unwrap_or(tu);
        let idx = s.sel.sel(&tdim, tv.len()).indices();
        let ds_dates: Vec<DateTime> = idx
            .iter()
            .map(|&i| tus.decode(tv[i]).ok_or_else(|| Error::bad(format!("time value {} cannot be decoded", tv[i]))))
            .collect::<Result<_>>()?;
        let d: Vec<i64> = ds_dates.iter().map(|d| cal.day_number(d.year, d.month, d.day)).collect();
        match &days {
            None => {
                if d.windows(2).any(|w| w[1] == w[0]) {
                    return Err(Error::bad(format!(
                        "{} needs daily data; '{}' has several time steps a day",
                        ix.name, s.ds.id
                    )));
                }
                days = Some(d);
                dates = ds_dates;
            }
            Some(first_days) if *first_days != d => {
                return Err(Error::bad(format!(
                    "'{}' and '{}' do not cover the same days; give a `time` range both cover",
                    sources[0].ds.id, s.ds.id
                )))
            }
            Some(_) => {}
        }
    }
    let days = days.unwrap_or_default();
    let shape: Vec<usize> = first.sel.shape(v);
    for s in &sources[1..] {
        let w = s.ds.require_var(&s.var)?;
        if s.sel.shape(w)[1..] != shape[1..] {
            return Err(Error::bad(format!(
                "'{}' and '{}' are not on the same grid ({:?} and {:?} cells)",
                first.ds.id,
                s.ds.id,
                &shape[1..],
                &s.sel.shape(w)[1..]
            )));
        }
    }
    let periods = periods(&days, &dates, &req.slice_mode, cal);
    if periods.is_empty() {
        return Err(Error::bad(format!(
            "the selected time of '{}' falls in no {} period",
            first.ds.id,
            req.slice_mode.label()
        )));
    }
    let lead = match ix.kind {
        compute::Kind::MaxWindowSum(w) => w - 1,
        _ => 0,
    };
    let cells: usize = shape[1..].iter().product();
    let units: Vec<Units> = sources.iter().map(|s| s.units).collect();
    let input_units = v.attr("units").and_then(AttrValue::as_text).unwrap_or("");
    let (out_units, scale, offset) = output_units(ix, input_units, req.out_unit.as_deref())?;
    let mut result = vec![f32::NAN; periods.len() * cells];
    let band_dim = v.dims.get(1).cloned();
    let band_all: Vec<usize> = band_dim.as_ref().map(|d| first.sel.sel(d, v.shape[1]).indices()).unwrap_or_default();
    let row_cells = shape.get(2..).map_or(1, |r| r.iter().product::<usize>());
    for (pi, p) in periods.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        (ctx.progress)(0.05 + 0.85 * pi as f64 / periods.len() as f64, &format!("{} {}", ix.name, show(&p.start)))?;
        if !p.complete {
            continue;
        }
        // the lead days: up to `lead` selected days right before the period
        let mut a = p.a;
        while a > 0 && p.a - a < lead && days[a - 1] == days[a] - 1 {
            a -= 1;
        }
        let times: Vec<usize> = (a..p.b).collect();
        let steps = times.len();
        let rows_per_band = match &band_dim {
            Some(_) => (BAND_BYTES / (steps * row_cells * 8 * sources.len()).max(1)).clamp(1, band_all.len().max(1)),
            None => 1,
        };
        let nrows = if band_dim.is_some() { band_all.len() } else { 1 };
        let mut r0 = 0;
        while r0 < nrows {
            let r1 = (r0 + rows_per_band).min(nrows);
            let band = band_dim.as_deref().map(|d| (d, &band_all[r0..r1], r0));
            let blocks: Vec<Vec<f64>> =
                sources.iter().map(|s| read_band(ctx, s, &tdim, &times, band)).collect::<Result<_>>()?;
            let n = (r1 - r0) * row_cells;
            let out = &mut result[pi * cells + r0 * row_cells..pi * cells + r0 * row_cells + n];
            out.par_iter_mut().enumerate().for_each_init(
                || vec![vec![0f64; steps]; blocks.len()],
                |series, (c, o)| {
                    for (s, b) in series.iter_mut().zip(&blocks) {
                        for (k, x) in s.iter_mut().enumerate() {
                            *x = b[k * n + c];
                        }
                    }
                    let refs: Vec<&[f64]> = series.iter().map(Vec::as_slice).collect();
                    #[allow(clippy::cast_possible_truncation)]
                    let val = (compute::value(ix, &refs, p.a - a, &units) * scale + offset) as f32;
                    *o = val;
                },
            );
            r0 = r1;
        }
    }
    (ctx.progress)(0.92, &format!("writing {}", ix.name))?;
    // the output: the grid of the first input, one time step per period
    let mut coords = first.sel.clone();
    coords.vars.retain(|vs| first.ds.var(&vs.name).is_some_and(|w| !w.dims.contains(&tdim)));
    let mut out = selection_file(&first.ds, &coords);
    let np = periods.len();
    out.dims.push(OutDim { name: tdim.clone(), len: np, unlimited: true });
    if !out.dims.iter().any(|d| d.name == "bnds") {
        out.dims.push(OutDim { name: "bnds".into(), len: 2, unlimited: false });
    }
    let tb_name = t.attr("bounds").and_then(AttrValue::as_text).map_or_else(|| format!("{tdim}_bnds"), str::to_string);
    let starts: Vec<f64> = periods.iter().map(|p| tu.encode(&p.start)).collect::<Result<_>>()?;
    let bnds: Vec<f64> = periods
        .iter()
        .map(|p| Ok([tu.encode(&p.start)?, tu.encode(&p.next)?]))
        .collect::<Result<Vec<[f64; 2]>>>()?
        .concat();
    let mut tattrs: Vec<Attribute> =
        t.attrs.iter().filter(|a| !["_FillValue", "bounds"].contains(&a.name.as_str())).cloned().collect();
    tattrs.push(text_attr("bounds", &tb_name));
    out.vars.push(OutVar {
        name: t.name.clone(),
        dtype: DataType::F64,
        dims: vec![tdim.clone()],
        attrs: tattrs,
        chunks: None,
        source: Constant::f64(&[np], starts),
    });
    out.vars.push(OutVar {
        name: tb_name,
        dtype: DataType::F64,
        dims: vec![tdim.clone(), "bnds".into()],
        attrs: vec![],
        chunks: None,
        source: Constant::f64(&[np, 2], bnds),
    });
    let mut attrs: Vec<Attribute> = v
        .attrs
        .iter()
        .filter(|a| ["coordinates", "grid_mapping", "cell_measures"].contains(&a.name.as_str()))
        .filter(|a| !STORAGE_ATTRS.contains(&a.name.as_str()))
        .cloned()
        .collect();
    let old_methods = v.attr("cell_methods").and_then(AttrValue::as_text).unwrap_or("");
    let methods = format!(
        "{old_methods} {}",
        ix.cell_methods.replace("over days", &format!("over days (interval: {})", req.slice_mode.label()))
    );
    attrs.extend([
        text_attr("long_name", ix.long_name),
        text_attr("standard_name", ix.standard_name),
        text_attr("units", &out_units),
        text_attr("cell_methods", methods.trim()),
        text_attr("slice_mode", &req.slice_mode.label()),
        Attribute { name: "_FillValue".into(), value: AttrValue::F32(vec![1e20]) },
        Attribute { name: "missing_value".into(), value: AttrValue::F32(vec![1e20]) },
    ]);
    let mut dims = vec![tdim.clone()];
    dims.extend(v.dims[1..].iter().cloned());
    let mut oshape = vec![np];
    oshape.extend(&shape[1..]);
    let values: Vec<f32> = result.into_iter().map(|x| if x.is_nan() { 1e20 } else { x }).collect();
    out.vars.push(OutVar {
        name: ix.name.to_string(),
        dtype: DataType::F32,
        dims,
        attrs,
        chunks: None,
        source: Box::new(Constant { shape: oshape, data: Data::F32(values) }),
    });
    out.attrs.retain(|a| !["frequency", "variable_id"].contains(&a.name.as_str()));
    out.attrs.push(text_attr("climate_index", ix.name));
    clean_fill_values(&first.ds, &mut out);
    let last_day = |p: &Period| {
        let (y, m, d) = cal.date_of(cal.day_number(p.next.year, p.next.month, p.next.day) - 1);
        DateTime::date(y, m, d)
    };
    let range = periods.first().zip(periods.last()).map(|(a, b)| (a.start, last_day(b)));
    let name = file_name(&first.ds, ix.name, range, &format!("_{}", req.slice_mode.label()));
    Ok(vec![write_output(reader, &out, ctx.out_dir, &name, &ctx.history)?])
}

fn text_attr(name: &str, value: &str) -> Attribute {
    Attribute { name: name.into(), value: AttrValue::Text(value.into()) }
}

fn show(d: &DateTime) -> String {
    format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_modes() {
        assert_eq!(SliceMode::parse("").expect("default"), SliceMode::Year);
        assert_eq!(SliceMode::parse("DJF").expect("djf"), SliceMode::Season(vec![12, 1, 2]));
        assert_eq!(SliceMode::parse("season:11,12,1").expect("custom"), SliceMode::Season(vec![11, 12, 1]));
        assert_eq!(SliceMode::parse(r#"["season", [4, 5, 6]]"#).expect("icclim"), SliceMode::Season(vec![4, 5, 6]));
        assert_eq!(SliceMode::parse("month:6,7").expect("months"), SliceMode::Months(Some(vec![6, 7])));
        assert!(SliceMode::parse("season:1,3").is_err());
        assert!(SliceMode::parse("season:13").is_err());
        assert!(SliceMode::parse("decade").is_err());
        let djf = SliceMode::parse("DJF").expect("djf");
        let (k, s, n) = djf.period(&DateTime::date(2051, 2, 10)).expect("in DJF");
        assert_eq!((k, s, n), (2050, DateTime::date(2050, 12, 1), DateTime::date(2051, 3, 1)));
        assert!(djf.period(&DateTime::date(2051, 3, 1)).is_none());
        let ond = SliceMode::parse("ONDJFM").expect("ondjfm");
        assert_eq!(ond.period(&DateTime::date(2051, 3, 31)).expect("in").2, DateTime::date(2051, 4, 1));
        assert_eq!(djf.label(), "DJF");
    }

    #[test]
    fn periods_know_when_they_are_complete() {
        let cal = Calendar::Day360;
        // 2000-01-16 .. 2001-12-30 in a 360-day calendar
        let n0 = cal.day_number(2000, 1, 16);
        let days: Vec<i64> = (n0..cal.day_number(2001, 12, 30) + 1).collect();
        let dates: Vec<DateTime> = days
            .iter()
            .map(|&n| {
                let (y, m, d) = cal.date_of(n);
                DateTime::date(y, m, d)
            })
            .collect();
        let p = periods(&days, &dates, &SliceMode::Year, cal);
        assert_eq!(p.len(), 2);
        assert!(!p[0].complete && p[1].complete);
        assert_eq!(p[1].b - p[1].a, 360);
        let m = periods(&days, &dates, &SliceMode::Months(None), cal);
        assert_eq!(m.len(), 24);
        assert!(!m[0].complete && m[1].complete);
    }

    #[test]
    fn output_units_convert_temperatures() {
        let tg = compute::find("TG").expect("TG");
        let (u, s, o) = output_units(tg, "K", Some("degC")).expect("degC");
        assert_eq!(u, "degC");
        assert!((300.0 * s + o - 26.85).abs() < 1e-9);
        assert!(output_units(tg, "K", Some("mm")).is_err());
        let rx = compute::find("RX1day").expect("RX1day");
        assert_eq!(output_units(rx, "kg m-2 s-1", None).expect("natural").0, "mm/day");
        assert!(output_units(rx, "kg m-2 s-1", Some("mm d-1")).is_ok());
        assert!(output_units(compute::find("SU").expect("SU"), "K", Some("degC")).is_err());
    }
}
