//! The `climate_index` operation: ECA&D climate indices (icclim's names and inputs,
//! xclim's definitions) of daily data, per year, month, season or custom season.
//! Each period is read for a band of cells at a time, so memory does not grow with
//! the length of the series; a period the data does not fully cover, or with a missing
//! day, has no value (as xclim's default missing-value check).

pub mod compute;
pub mod percentile;

use super::output::{
    clean_fill_values, file_name, period_time_axis, text_attr, write_output, OutputFile, STORAGE_ATTRS,
};
use super::params::TimeParam;
use super::select::{select, values, SubsetRequest};
use super::RunContext;
use crate::cf::{self, Calendar, DateTime};
use crate::encode::netcdf::{selection_file, Constant, OutVar};
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
    match (ix.kind.needs_base(), &base_period) {
        (true, None) => {
            return Err(Error::InvalidInput {
                input: "base_period_time_range".into(),
                message: format!("{} is a percentile index: give its base period, e.g. 1961-01-01/1990-12-31", ix.name),
            })
        }
        (false, Some(_)) => {
            return Err(Error::InvalidInput {
                input: "base_period_time_range".into(),
                message: format!("{} is not a percentile index; it has no base period", ix.name),
            })
        }
        _ => {}
    }
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

/// Values (NaN: missing) of `var` in `sel` at the time positions `times` of the
/// selection, for the cells of `band` (its dimension, indices and offset) along the
/// second dimension: one series per cell, in (cell, time) order.
fn read_series(
    reader: &crate::read::Reader,
    ds: &Dataset,
    var: &str,
    sel: &Selection,
    tdim: &str,
    times: &[usize],
    band: Option<(&str, &[usize], usize)>,
) -> Result<Vec<f64>> {
    let steps = times.len();
    Ok(match read_block(reader, ds, var, sel, tdim, times, band)? {
        Block::F32(v, miss) => cf::cell_major(&v, steps, v.len() / steps.max(1), Block::value(miss)),
        Block::F64(v) => cf::cell_major(&v, steps, v.len() / steps.max(1), |x| x),
    })
}

/// Values of one period for a band of cells, in (day, cell) order: floats as stored
/// with the one interval of them that means "no data" (the usual case, decoded as
/// they are used: [`Block::value`]), anything else decoded to f64 (NaN: missing).
enum Block {
    F32(Vec<f32>, (f32, f32)),
    F64(Vec<f64>),
}

impl Block {
    /// The value of a stored float that is missing in `(lo, hi)`: NaN, else itself.
    fn value((lo, hi): (f32, f32)) -> impl Fn(f32) -> f64 + Copy {
        move |x: f32| if x.is_nan() | ((x >= lo) & (x <= hi)) { f64::NAN } else { f64::from(x) }
    }

    fn to_f64(&self) -> Vec<f64> {
        match self {
            Block::F32(v, miss) => v.iter().map(|&x| Block::value(*miss)(x)).collect(),
            Block::F64(v) => v.clone(),
        }
    }
}

/// The values of `var` in `sel` at the time positions `times` of the selection, for
/// the cells of `band` (its dimension, indices and offset) along the second
/// dimension, in (day, cell) order.
fn read_block(
    reader: &crate::read::Reader,
    ds: &Dataset,
    var: &str,
    sel: &Selection,
    tdim: &str,
    times: &[usize],
    band: Option<(&str, &[usize], usize)>,
) -> Result<Block> {
    let v = ds.require_var(var)?;
    let mut sel = sel.clone();
    let all_t = sel.sel(tdim, v.shape[0]).indices();
    sel.dims.insert(tdim.to_string(), DimSel::from_indices(&times.iter().map(|&k| all_t[k]).collect::<Vec<_>>()));
    let mut start = vec![0; v.shape.len()];
    if let Some((dim, idx, off)) = band {
        sel.dims.insert(dim.to_string(), DimSel::from_indices(idx));
        start[1] = off;
    }
    let arr = sel.read(reader, ds, &VarSel::shared(var))?;
    let data = sel.transform(v, &start, &arr.shape, arr.data);
    let decode = cf::Decode::of(v);
    Ok(match (data, decode.missing_interval()) {
        (Data::F32(v), Some(miss)) if decode.plain() => Block::F32(v, miss),
        (other, _) => Block::F64(decode.decode(&other, "used in a climate index")?),
    })
}

/// Bytes of decoded values one band may hold.
const BAND_BYTES: usize = 192 << 20;

/// The selected days of a dataset's time axis: their dates and day numbers.
fn selected_days(ctx: &RunContext, ds: &Dataset, sel: &Selection, tdim: &str) -> Result<(Vec<DateTime>, Vec<i64>)> {
    let t = cf::time_coordinate(ds).ok_or_else(|| Error::bad(format!("'{}' has no time coordinate", ds.id)))?;
    let tu = cf::time_units(t).ok_or_else(|| Error::bad(format!("the time of '{}' cannot be decoded", ds.id)))?;
    let tv = values(&ctx.engine.reader, ds, t)?;
    let dates: Vec<DateTime> = sel
        .sel(tdim, tv.len())
        .indices()
        .iter()
        .map(|&i| tu.decode(tv[i]).ok_or_else(|| Error::bad(format!("time value {} cannot be decoded", tv[i]))))
        .collect::<Result<_>>()?;
    let cal = tu.calendar;
    let days = dates.iter().map(|d| cal.day_number(d.year, d.month, d.day)).collect();
    Ok((dates, days))
}

/// What every band of a run shares.
struct Plan<'a> {
    ix: &'static Index,
    sources: &'a [Source],
    tdim: String,
    days: Vec<i64>,
    periods: Vec<Period>,
    /// Rows of the second dimension (selected indices), cells per row.
    band_dim: Option<String>,
    rows: Vec<usize>,
    row_cells: usize,
    cells: usize,
}

impl Plan<'_> {
    /// Row ranges whose values (over `steps` time steps per input, of `value_bytes`
    /// each) fit in a band; whole stored chunks along the rows where they fit, so that
    /// no chunk is read for two bands.
    fn bands(&self, steps: usize, value_bytes: usize) -> Vec<(usize, usize)> {
        let nrows = if self.band_dim.is_some() { self.rows.len() } else { 1 };
        let row_bytes = steps * self.row_cells * value_bytes * self.sources.len();
        let mut per = (BAND_BYTES / row_bytes.max(1)).clamp(1, nrows.max(1));
        let chunk_rows = self.sources.iter().filter_map(|s| s.ds.var(&s.var)?.chunks.as_ref()?.get(1).copied()).max();
        if let Some(c) = chunk_rows.filter(|&c| c > 1 && per >= c && per < nrows) {
            per = per / c * c;
        }
        (0..nrows).step_by(per).map(|r0| (r0, (r0 + per).min(nrows))).collect()
    }

    /// Bytes of each value of a band: its inputs' floats as stored, else f64.
    fn value_bytes(&self) -> usize {
        let floats = self.sources.iter().all(|s| s.ds.var(&s.var).is_some_and(|v| v.dtype == DataType::F32));
        if floats {
            4
        } else {
            8
        }
    }

    fn band(&self, r0: usize, r1: usize) -> Option<(&str, &[usize], usize)> {
        self.band_dim.as_deref().map(|d| (d, &self.rows[r0..r1], r0))
    }
}

/// Indices without a base period, period by period: each period (with the days
/// before it a window needs) is read for a band of cells at a time, on a thread of
/// its own one step ahead of the computation.
fn compute_periods(ctx: &mut RunContext, plan: &Plan, scale: f64, offset: f64) -> Result<Vec<f32>> {
    let (ix, cells) = (plan.ix, plan.cells);
    let lead = match ix.kind {
        compute::Kind::MaxWindowSum(w) => w - 1,
        _ => 0,
    };
    let units: Vec<Units> = plan.sources.iter().map(|s| s.units).collect();
    let mut result = vec![f32::NAN; plan.periods.len() * cells];
    // what is read, in order: (period, first day read, band rows)
    let mut work = Vec::new();
    for (pi, p) in plan.periods.iter().enumerate().filter(|(_, p)| p.complete) {
        // the lead days: up to `lead` selected days right before the period
        let mut a = p.a;
        while a > 0 && p.a - a < lead && plan.days[a - 1] == plan.days[a] - 1 {
            a -= 1;
        }
        for band in plan.bands(p.b - a, plan.value_bytes()) {
            work.push((pi, a, band));
        }
    }
    let reader = &ctx.engine.reader;
    let progress = &mut *ctx.progress;
    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let jobs = &work;
        scope.spawn(move || {
            for &(pi, a, (r0, r1)) in jobs {
                let times: Vec<usize> = (a..plan.periods[pi].b).collect();
                let blocks: Result<Vec<Block>> = plan
                    .sources
                    .iter()
                    .map(|s| read_block(reader, &s.ds, &s.var, &s.sel, &plan.tdim, &times, plan.band(r0, r1)))
                    .collect();
                let failed = blocks.is_err();
                if tx.send(blocks).is_err() || failed {
                    break;
                }
            }
        });
        for (k, &(pi, a, (r0, r1))) in work.iter().enumerate() {
            let p = &plan.periods[pi];
            #[allow(clippy::cast_precision_loss)]
            progress(0.05 + 0.85 * k as f64 / work.len() as f64, &format!("{} {}", ix.name, show(&p.start)))?;
            let blocks = rx.recv().map_err(|_| Error::Internal("the reading thread stopped".into()))??;
            let n = (r1 - r0) * plan.row_cells;
            let first = pi * cells + r0 * plan.row_cells;
            let out = &mut result[first..first + n];
            let lead = p.a - a;
            let floats: Vec<(&[f32], (f32, f32))> = blocks
                .iter()
                .filter_map(|b| match b {
                    Block::F32(v, miss) => Some((v.as_slice(), *miss)),
                    Block::F64(_) => None,
                })
                .collect();
            match floats[..] {
                // the usual case: floats with the same missing values
                [(_, miss), ..] if floats.len() == blocks.len() && floats.iter().all(|f| f.1 == miss) => {
                    let refs: Vec<&[f32]> = floats.iter().map(|f| f.0).collect();
                    period_values(ix, (&refs, Block::value(miss)), n, lead, &units, (scale, offset), out);
                }
                _ => {
                    let f64s: Vec<Vec<f64>> = blocks.iter().map(Block::to_f64).collect();
                    let refs: Vec<&[f64]> = f64s.iter().map(Vec::as_slice).collect();
                    period_values(ix, (&refs, |x| x), n, lead, &units, (scale, offset), out);
                }
            }
        }
        Ok(())
    })?;
    Ok(result)
}

/// The index over one period for `n` cells of blocks in (day, cell) order, in parallel
/// over groups of cells, in output units.
fn period_values<T: Copy + Sync>(
    ix: &Index,
    (blocks, value): (&[&[T]], impl Fn(T) -> f64 + Copy + Sync),
    n: usize,
    lead: usize,
    units: &[Units],
    (scale, offset): (f64, f64),
    out: &mut [f32],
) {
    const CELLS: usize = 2048;
    out.par_chunks_mut(CELLS).enumerate().for_each(|(i, o)| {
        let mut v = vec![0f64; o.len()];
        compute::values(ix, (blocks, value), n, i * CELLS, lead, units, &mut v);
        for (o, v) in o.iter_mut().zip(v) {
            #[allow(clippy::cast_possible_truncation)]
            let val = (v * scale + offset) as f32;
            *o = val;
        }
    });
}

/// The base period of a percentile index, for one cell's computation.
struct Base {
    /// Days of year and bootstrap blocks of the base days.
    days: percentile::Days,
    /// (month, day) of each base day.
    month_day: Vec<(u32, u32)>,
    /// Calendar years of the base.
    years: Vec<i64>,
}

/// The bootstrap block (labelled by the year it starts in) of a date, for blocks of
/// twelve months starting in `anchor`.
fn block_of(d: &DateTime, anchor: u32) -> i64 {
    if d.month >= anchor {
        d.year
    } else {
        d.year - 1
    }
}

fn doy_of(d: &DateTime, cal: Calendar) -> u16 {
    u16::try_from(cal.day_number(d.year, d.month, d.day) - cal.day_number(d.year, 1, 1) + 1).unwrap_or(0)
}

/// One cell of a percentile index: the value of each period.
#[allow(clippy::too_many_arguments)]
fn percentile_cell(
    ix: &Index,
    study: &[f64],
    study_days: &percentile::Days,
    periods: &[Period],
    base_values: &[f64],
    base: &Base,
    year_days: usize,
    units: Units,
) -> Vec<f64> {
    let missing = |p: &Period| !p.complete || study[p.a..p.b].iter().any(|x| x.is_nan());
    match ix.kind {
        compute::Kind::WetPercentileDays(per) => {
            let wet_t = units.stored(1.0);
            let mut wet: Vec<f64> = base_values.iter().copied().filter(|&x| x >= wet_t).collect();
            let q = percentile::quantile8(&mut wet, per / 100.0);
            let t = if q > wet_t { q } else { wet_t };
            #[allow(clippy::cast_precision_loss)]
            periods
                .iter()
                .map(|p| if missing(p) { f64::NAN } else { study[p.a..p.b].iter().filter(|&&x| x > t).count() as f64 })
                .collect()
        }
        compute::Kind::PercentileDays(op, per, spell) => {
            let q = per / 100.0;
            let eval = |p: &Period, th: &[f64]| {
                let hits = (p.a..p.b).map(|i| {
                    let t = th.get(usize::from(study_days.doy[i])).copied().unwrap_or(f64::NAN);
                    op.holds(study[i], t)
                });
                #[allow(clippy::cast_precision_loss)]
                match spell {
                    Some(min) => percentile::run_days(hits, min) as f64,
                    None => hits.filter(|&h| h).count() as f64,
                }
            };
            let range = |idx: &mut dyn Iterator<Item = usize>| {
                let (mut lo, mut hi) = (usize::MAX, 0);
                for i in idx {
                    let d = usize::from(study_days.doy[i]);
                    lo = lo.min(d);
                    hi = hi.max(d);
                }
                (lo.min(hi), hi)
            };
            let th0 = percentile::doy_thresholds(base_values, &base.days.doy, q, 5);
            let (lo, hi) = range(&mut (0..study.len()));
            let whole = percentile::for_study(th0, year_days, lo, hi);
            // the bootstrap members of each block of the studied period in the base
            let mut members: std::collections::BTreeMap<i64, Vec<Vec<f64>>> = std::collections::BTreeMap::new();
            let mut out = Vec::with_capacity(periods.len());
            for p in periods {
                if missing(p) {
                    out.push(f64::NAN);
                    continue;
                }
                let label = study_days.block[p.a];
                if !base.years.contains(&label) {
                    out.push(eval(p, &whole));
                    continue;
                }
                let ths = members.entry(label).or_insert_with(|| {
                    let in_block: Vec<usize> = (0..study.len()).filter(|&i| study_days.block[i] == label).collect();
                    let (lo, hi) = range(&mut in_block.iter().copied());
                    let group = |l: i64| -> Vec<usize> {
                        (0..base_values.len()).filter(|&i| base.days.block[i] == l).collect()
                    };
                    let bloc = group(label);
                    let mut labels: Vec<i64> = base.days.block.clone();
                    labels.dedup();
                    labels
                        .into_iter()
                        .filter(|&l| l != label)
                        .map(|l| {
                            let altered = percentile::replaced(base_values, &bloc, &group(l), &base.month_day);
                            let th = percentile::doy_thresholds(
                                altered.as_deref().unwrap_or(base_values),
                                &base.days.doy,
                                q,
                                5,
                            );
                            percentile::for_study(th, year_days, lo, hi)
                        })
                        .collect()
                });
                let vals: Vec<f64> = ths.iter().map(|th| eval(p, th)).collect();
                #[allow(clippy::cast_precision_loss)]
                out.push(if vals.is_empty() { eval(p, &whole) } else { vals.iter().sum::<f64>() / vals.len() as f64 });
            }
            out
        }
        _ => vec![f64::NAN; periods.len()],
    }
}

/// Percentile indices, band by band: the whole studied series and the base period of
/// a band of cells are read, and each cell computes its thresholds and its periods.
fn compute_percentiles(
    ctx: &mut RunContext,
    plan: &Plan,
    req: &IndexRequest,
    dates: &[DateTime],
    cal: Calendar,
) -> Result<Vec<f32>> {
    let ix = plan.ix;
    let src = &plan.sources[0];
    let base_time = req.base_period.clone().ok_or_else(|| Error::MissingInput("base_period_time_range".into()))?;
    let mut r = req.subset.clone();
    r.time = Some(base_time);
    r.time_components = None;
    r.variables = vec![src.var.clone()];
    let base_sel = select(&ctx.engine.reader, &src.ds, &r)
        .map_err(|e| Error::InvalidInput { input: "base_period_time_range".into(), message: e.to_string() })?;
    let (base_dates, _) = selected_days(ctx, &src.ds, &base_sel, &plan.tdim)?;
    let anchor = match &req.slice_mode {
        SliceMode::Season(m) => m[0],
        _ => 1,
    };
    let days_of = |ds: &[DateTime]| percentile::Days {
        doy: ds.iter().map(|d| doy_of(d, cal)).collect(),
        block: ds.iter().map(|d| block_of(d, anchor)).collect(),
        year: ds.iter().map(|d| d.year).collect(),
    };
    let mut years: Vec<i64> = base_dates.iter().map(|d| d.year).collect();
    years.dedup();
    let base =
        Base { days: days_of(&base_dates), month_day: base_dates.iter().map(|d| (d.month, d.day)).collect(), years };
    let study_days = days_of(dates);
    let year_days = match cal {
        Calendar::Day360 => 360,
        Calendar::NoLeap => 365,
        _ => 366,
    };
    let cells = plan.cells;
    let np = plan.periods.len();
    let mut result = vec![f32::NAN; np * cells];
    let study_times: Vec<usize> = (0..dates.len()).collect();
    let base_times: Vec<usize> = (0..base_dates.len()).collect();
    let bands = plan.bands(dates.len() + base_dates.len(), 8);
    for (bi, &(r0, r1)) in bands.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        (ctx.progress)(0.05 + 0.85 * bi as f64 / bands.len() as f64, &format!("{} with its base period", ix.name))?;
        let band = plan.band(r0, r1);
        let reader = &ctx.engine.reader;
        let study = read_series(reader, &src.ds, &src.var, &src.sel, &plan.tdim, &study_times, band)?;
        let base_vals = read_series(reader, &src.ds, &src.var, &base_sel, &plan.tdim, &base_times, band)?;
        let n = (r1 - r0) * plan.row_cells;
        let (ns, nb) = (dates.len(), base_dates.len());
        let per_cell: Vec<Vec<f64>> = (0..n)
            .into_par_iter()
            .map(|c| {
                let s = &study[c * ns..(c + 1) * ns];
                let b = &base_vals[c * nb..(c + 1) * nb];
                percentile_cell(ix, s, &study_days, &plan.periods, b, &base, year_days, src.units)
            })
            .collect();
        for (c, vals) in per_cell.into_iter().enumerate() {
            for (pi, v) in vals.into_iter().enumerate() {
                #[allow(clippy::cast_possible_truncation)]
                let x = v as f32;
                result[pi * cells + r0 * plan.row_cells + c] = x;
            }
        }
    }
    Ok(result)
}

/// Compute one index over a dataset (or the datasets its inputs come from) into
/// `ctx.out_dir`.
pub fn run_index(ctx: &mut RunContext, datasets: &[Arc<Dataset>], req: &IndexRequest) -> Result<Vec<OutputFile>> {
    let ix = req.definition()?;
    check_collections(ix, datasets)?;
    if req.base_period.is_some() && !ix.kind.needs_base() {
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
    let (dates, days) = selected_days(ctx, &first.ds, &first.sel, &tdim)?;
    if days.windows(2).any(|w| w[1] == w[0]) {
        return Err(Error::bad(format!(
            "{} needs daily data; '{}' has several time steps a day",
            ix.name, first.ds.id
        )));
    }
    for s in &sources[1..] {
        if selected_days(ctx, &s.ds, &s.sel, &tdim)?.1 != days {
            return Err(Error::bad(format!(
                "'{}' and '{}' do not cover the same days; give a `time` range both cover",
                first.ds.id, s.ds.id
            )));
        }
    }
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
    let input_units = v.attr("units").and_then(AttrValue::as_text).unwrap_or("");
    let (out_units, scale, offset) = output_units(ix, input_units, req.out_unit.as_deref())?;
    let band_dim = v.dims.get(1).cloned();
    let rows = band_dim.as_ref().map(|d| first.sel.sel(d, v.shape[1]).indices()).unwrap_or_default();
    let plan = Plan {
        ix,
        sources: &sources,
        tdim: tdim.clone(),
        days,
        periods,
        band_dim,
        rows,
        row_cells: shape.get(2..).map_or(1, |r| r.iter().product::<usize>()),
        cells: shape[1..].iter().product(),
    };
    let result = if ix.kind.needs_base() {
        compute_percentiles(ctx, &plan, req, &dates, cal)?
    } else {
        compute_periods(ctx, &plan, scale, offset)?
    };
    (ctx.progress)(0.92, &format!("writing {}", ix.name))?;
    // the output: the grid of the first input, one time step per period
    let periods = &plan.periods;
    let mut coords = first.sel.clone();
    coords.vars.retain(|vs| first.ds.var(&vs.name).is_some_and(|w| !w.dims.contains(&tdim)));
    let mut out = selection_file(&first.ds, &coords);
    let np = periods.len();
    let spans: Vec<(DateTime, DateTime)> = periods.iter().map(|p| (p.start, p.next)).collect();
    period_time_axis(&mut out, t, &tu, &spans)?;
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
    if let (true, Some(TimeParam::Range { start, end })) = (ix.kind.needs_base(), &req.base_period) {
        let show_point = |p: &Option<super::params::TimePoint>| p.map(|p| show(&p.dt)).unwrap_or_default();
        attrs.push(text_attr("base_period", &format!("{}/{}", show_point(start), show_point(end))));
    }
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
