//! The ECA&D climate indices (icclim's names, xclim's definitions): which daily
//! variables each reads, its metadata, and the value of one index for one cell over
//! one period. Pure functions of daily series; missing values are NaN.

/// A daily input variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    Tas,
    Tasmax,
    Tasmin,
    Pr,
}

impl Input {
    /// The CMIP variable name.
    pub fn name(self) -> &'static str {
        match self {
            Input::Tas => "tas",
            Input::Tasmax => "tasmax",
            Input::Tasmin => "tasmin",
            Input::Pr => "pr",
        }
    }
}

/// A comparison with a threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Above,
    AtLeast,
    Below,
}

impl Op {
    /// True when `x` compares with `t` (false when either is NaN).
    pub fn holds(self, x: f64, t: f64) -> bool {
        match self {
            Op::Above => x > t,
            Op::AtLeast => x >= t,
            Op::Below => x < t,
        }
    }
}

/// How an index is computed from its inputs' series (thresholds in °C for
/// temperatures, mm/day for precipitation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// Mean of the values.
    Mean,
    /// Mean of the first input minus the second (DTR: tasmax - tasmin).
    MeanDifference,
    /// Days on which the comparison holds.
    Count(Op, f64),
    /// The longest run of days on which the comparison holds.
    Spell(Op, f64),
    /// Sum of the excess over (`true`) or the deficit under (`false`) a threshold.
    DegreeDays(bool, f64),
    /// Mean amount of the days with at least this amount (SDII).
    WetDayIntensity(f64),
    /// Total amount of the days with at least this amount (PRCPTOT).
    WetDayTotal(f64),
    /// The largest daily value.
    Max,
    /// The largest sum over this many consecutive days (the window may start before
    /// the period).
    MaxWindowSum(usize),
    /// Days on which the comparison with the day-of-year percentile (this one) of the
    /// base period holds; with a length, only the days of runs at least that long
    /// (WSDI, CSDI).
    PercentileDays(Op, f64, Option<usize>),
    /// Days above this percentile of the base period's wet days (R95p).
    WetPercentileDays(f64),
}

impl Kind {
    /// True for the indices that need a base period.
    pub fn needs_base(self) -> bool {
        matches!(self, Kind::PercentileDays(..) | Kind::WetPercentileDays(_))
    }
}

/// One index: its name, inputs, computation and output metadata.
#[derive(Clone, Copy, Debug)]
pub struct Index {
    pub name: &'static str,
    pub inputs: &'static [Input],
    pub kind: Kind,
    pub long_name: &'static str,
    pub standard_name: &'static str,
    /// Units of the result (before `out_unit`); `""`: those of the input.
    pub units: &'static str,
    pub cell_methods: &'static str,
}

const TAS: &[Input] = &[Input::Tas];
const TX: &[Input] = &[Input::Tasmax];
const TN: &[Input] = &[Input::Tasmin];
const TXTN: &[Input] = &[Input::Tasmax, Input::Tasmin];
const PR: &[Input] = &[Input::Pr];

const fn index(
    name: &'static str,
    inputs: &'static [Input],
    kind: Kind,
    long_name: &'static str,
    standard_name: &'static str,
    units: &'static str,
    cell_methods: &'static str,
) -> Index {
    Index { name, inputs, kind, long_name, standard_name, units, cell_methods }
}

const ABOVE_T: &str = "number_of_days_with_air_temperature_above_threshold";
const BELOW_T: &str = "days_with_air_temperature_below_threshold";
const WET: &str = "number_of_days_with_lwe_thickness_of_precipitation_amount_above_threshold";
const AMOUNT: &str = "lwe_thickness_of_precipitation_amount";
const SUM: &str = "time: sum over days";
const MEAN: &str = "time: mean over days";
const MAX: &str = "time: maximum over days";

/// The indices offered, in icclim's order of families.
pub const INDICES: &[Index] = &[
    index("TG", TAS, Kind::Mean, "Mean daily mean temperature", "air_temperature", "", MEAN),
    index("TX", TX, Kind::Mean, "Mean daily maximum temperature", "air_temperature", "", MEAN),
    index("TN", TN, Kind::Mean, "Mean daily minimum temperature", "air_temperature", "", MEAN),
    index(
        "DTR",
        TXTN,
        Kind::MeanDifference,
        "Mean of diurnal temperature range",
        "air_temperature",
        "K",
        "time range within days time: mean over days",
    ),
    index("SU", TX, Kind::Count(Op::Above, 25.0), "Summer days (TX>25°C)", ABOVE_T, "days", SUM),
    index("TR", TN, Kind::Count(Op::Above, 20.0), "Tropical nights (TN>20°C)", ABOVE_T, "days", SUM),
    index("FD", TN, Kind::Count(Op::Below, 0.0), "Frost days (TN<0°C)", BELOW_T, "days", SUM),
    index("ID", TX, Kind::Count(Op::Below, 0.0), "Ice days (TX<0°C)", BELOW_T, "days", SUM),
    index(
        "GD4",
        TAS,
        Kind::DegreeDays(true, 4.0),
        "Growing degree days (sum of TG>4°C)",
        "integral_of_air_temperature_excess_wrt_time",
        "K days",
        SUM,
    ),
    index(
        "HD17",
        TAS,
        Kind::DegreeDays(false, 17.0),
        "Heating degree days (sum of 17°C - TG)",
        "integral_of_air_temperature_deficit_wrt_time",
        "K days",
        SUM,
    ),
    index(
        "CSU",
        TX,
        Kind::Spell(Op::Above, 25.0),
        "Maximum number of consecutive summer days (TX>25°C)",
        "spell_length_of_days_with_air_temperature_above_threshold",
        "days",
        MAX,
    ),
    index(
        "CFD",
        TN,
        Kind::Spell(Op::Below, 0.0),
        "Maximum number of consecutive frost days (TN<0°C)",
        "spell_length_of_days_with_air_temperature_below_threshold",
        "days",
        MAX,
    ),
    index(
        "CDD",
        PR,
        Kind::Spell(Op::Below, 1.0),
        "Maximum number of consecutive dry days (RR<1 mm)",
        "number_of_days_with_lwe_thickness_of_precipitation_amount_below_threshold",
        "days",
        MAX,
    ),
    index(
        "CWD",
        PR,
        Kind::Spell(Op::AtLeast, 1.0),
        "Maximum number of consecutive wet days (RR≥1 mm)",
        WET,
        "days",
        MAX,
    ),
    index("RR1", PR, Kind::Count(Op::AtLeast, 1.0), "Wet days (RR≥1 mm)", WET, "days", SUM),
    index(
        "R10mm",
        PR,
        Kind::Count(Op::AtLeast, 10.0),
        "Heavy precipitation days (precipitation≥10 mm)",
        WET,
        "days",
        SUM,
    ),
    index(
        "R20mm",
        PR,
        Kind::Count(Op::AtLeast, 20.0),
        "Very heavy precipitation days (precipitation≥20 mm)",
        WET,
        "days",
        SUM,
    ),
    index(
        "SDII",
        PR,
        Kind::WetDayIntensity(1.0),
        "Average precipitation during days with daily precipitation over 1 mm/day (Simple Daily Intensity Index: SDII)",
        AMOUNT,
        "mm/day",
        MEAN,
    ),
    index("PRCPTOT", PR, Kind::WetDayTotal(1.0), "Precipitation sum over wet days", AMOUNT, "mm", SUM),
    index("RX1day", PR, Kind::Max, "Highest 1-day precipitation amount", AMOUNT, "mm/day", MAX),
    index("RX5day", PR, Kind::MaxWindowSum(5), "Highest 5-day precipitation amount", AMOUNT, "mm", MAX),
    index(
        "TX90p",
        TX,
        Kind::PercentileDays(Op::Above, 90.0, None),
        "Days with TX>90th percentile of daily maximum temperature (warm day-times)",
        "days_with_air_temperature_above_threshold",
        "days",
        SUM,
    ),
    index(
        "TN10p",
        TN,
        Kind::PercentileDays(Op::Below, 10.0, None),
        "Days with TN<10th percentile of daily minimum temperature (cold nights)",
        "days_with_air_temperature_below_threshold",
        "days",
        SUM,
    ),
    index(
        "TG90p",
        TAS,
        Kind::PercentileDays(Op::Above, 90.0, None),
        "Days with TG>90th percentile of daily mean temperature (warm days)",
        "days_with_air_temperature_above_threshold",
        "days",
        SUM,
    ),
    index(
        "WSDI",
        TX,
        Kind::PercentileDays(Op::Above, 90.0, Some(6)),
        "Warm-spell duration index",
        ABOVE_T,
        "days",
        SUM,
    ),
    index(
        "CSDI",
        TN,
        Kind::PercentileDays(Op::Below, 10.0, Some(6)),
        "Cold-spell duration index",
        "cold_spell_duration_index",
        "days",
        SUM,
    ),
    index(
        "R95p",
        PR,
        Kind::WetPercentileDays(95.0),
        "Number of days with precipitation flux above the 95th percentile of the base period's wet days",
        WET,
        "days",
        SUM,
    ),
    index(
        "R99p",
        PR,
        Kind::WetPercentileDays(99.0),
        "Number of days with precipitation flux above the 99th percentile of the base period's wet days",
        WET,
        "days",
        SUM,
    ),
];

/// The index named `name` (case-insensitive).
pub fn find(name: &str) -> Option<&'static Index> {
    INDICES.iter().find(|i| i.name.eq_ignore_ascii_case(name.trim()))
}

/// How a variable's values relate to the units thresholds are given in: value in
/// threshold units = stored * `scale` + `offset`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Units {
    pub scale: f64,
    pub offset: f64,
}

impl Units {
    /// Units of a temperature (to °C) or a precipitation (to mm/day) named `units`.
    pub fn of(input: Input, units: &str) -> Option<Units> {
        let u = units.trim().to_ascii_lowercase().replace(['_', '°'], " ");
        let u = u.split_whitespace().collect::<Vec<_>>().join(" ");
        match input {
            Input::Pr => {
                let scale = match u.as_str() {
                    "kg m-2 s-1" | "kg/m2/s" | "kg m**-2 s**-1" | "mm s-1" | "mm/s" | "kg m^-2 s^-1" => 86_400.0,
                    "mm/day" | "mm d-1" | "mm day-1" | "mm/d" | "kg m-2 d-1" | "kg m-2 day-1" => 1.0,
                    "m/day" | "m d-1" | "m day-1" => 1000.0,
                    "m s-1" | "m/s" => 86_400_000.0,
                    _ => return None,
                };
                Some(Units { scale, offset: 0.0 })
            }
            _ => match u.as_str() {
                "k" | "kelvin" | "degk" | "deg k" => Some(Units { scale: 1.0, offset: -273.15 }),
                "degc" | "deg c" | "c" | "celsius" | "degree c" | "degrees c" | "degree celsius"
                | "degrees celsius" => Some(Units { scale: 1.0, offset: 0.0 }),
                _ => None,
            },
        }
    }

    /// A threshold (°C or mm/day) in stored units.
    pub fn stored(self, threshold: f64) -> f64 {
        (threshold - self.offset) / self.scale
    }
}

/// The values of `ix` over one period for the cells `c0..c0 + out.len()` of blocks
/// of `cells` cells: `blocks` holds one block per input (in `ix.inputs` order), each
/// in (day, cell) order, `lead` days before the period followed by its days, and
/// `value` gives the value of a stored number (NaN: missing); `units` per input. NaN for a cell where a day of the period is missing. Each cell's days
/// are taken in order, as one series, so that sums are those of that series; the
/// loops run over cells, which keeps the blocks in the order they are read (no
/// transpose) and lets the compiler vectorize them.
pub fn values<T: Copy>(
    ix: &Index,
    (blocks, value): (&[&[T]], impl Fn(T) -> f64 + Copy),
    cells: usize,
    c0: usize,
    lead: usize,
    units: &[Units],
    out: &mut [f64],
) {
    let nc = out.len();
    let steps = blocks[0].len().checked_div(cells).unwrap_or(0);
    if steps <= lead {
        out.fill(f64::NAN);
        return;
    }
    // the row of day `t` of input `k`, over the cells asked for
    let row = |k: usize, t: usize| &blocks[k][t * cells + c0..t * cells + c0 + nc];
    let days = lead..steps;
    let u = units[0];
    #[allow(clippy::cast_precision_loss)]
    let n = (steps - lead) as f64;
    // per cell: a day of the period is missing
    let mut missing = vec![false; nc];
    let b0 = (blocks[0], value, cells, c0);
    match ix.kind {
        Kind::Mean => {
            per_day(out, &mut missing, b0, days.clone(), 0.0, |s, x| s + x);
            out.iter_mut().for_each(|o| *o /= n);
        }
        Kind::MeanDifference => {
            // a - b is NaN when either is missing
            out.fill(0.0);
            for t in days.clone() {
                for ((o, &a), &b) in out.iter_mut().zip(row(0, t)).zip(row(1, t)) {
                    *o += value(a) - value(b);
                }
            }
            out.iter_mut().for_each(|o| *o /= n);
        }
        Kind::Count(op, t) => {
            let t = u.stored(t);
            match op {
                Op::Above => per_day(out, &mut missing, b0, days.clone(), 0.0, |c, x| c + f64::from(u8::from(x > t))),
                Op::AtLeast => {
                    per_day(out, &mut missing, b0, days.clone(), 0.0, |c, x| c + f64::from(u8::from(x >= t)))
                }
                Op::Below => per_day(out, &mut missing, b0, days.clone(), 0.0, |c, x| c + f64::from(u8::from(x < t))),
            }
        }
        Kind::Spell(op, t) => {
            let t = u.stored(t);
            let mut run = vec![0f64; nc];
            out.fill(0.0);
            for d in days.clone() {
                for (((o, r), m), &x) in out.iter_mut().zip(&mut run).zip(&mut missing).zip(row(0, d)) {
                    let x = value(x);
                    // without a branch (the days of a spell are not predictable)
                    *r = (*r + 1.0) * f64::from(u8::from(op.holds(x, t)));
                    *o = o.max(*r);
                    *m |= x.is_nan();
                }
            }
        }
        Kind::DegreeDays(above, t) => {
            let t = u.stored(t);
            if above {
                per_day(out, &mut missing, b0, days.clone(), 0.0, |s, x| s + (x - t).max(0.0));
            } else {
                per_day(out, &mut missing, b0, days.clone(), 0.0, |s, x| s + (t - x).max(0.0));
            }
            out.iter_mut().for_each(|o| *o *= u.scale);
        }
        Kind::WetDayIntensity(t) | Kind::WetDayTotal(t) => {
            let t = u.stored(t);
            let mut wet = vec![0f64; nc];
            out.fill(0.0);
            for d in days.clone() {
                for (((o, w), m), &x) in out.iter_mut().zip(&mut wet).zip(&mut missing).zip(row(0, d)) {
                    let x = value(x);
                    // without a branch: x, or +0.0 on a dry day
                    let wet = u64::from(x >= t);
                    *o += f64::from_bits(x.to_bits() & wet.wrapping_neg());
                    *w += f64::from(u8::from(wet == 1));
                    *m |= x.is_nan();
                }
            }
            for (o, &w) in out.iter_mut().zip(&wet) {
                *o *= u.scale;
                if matches!(ix.kind, Kind::WetDayIntensity(_)) {
                    // no wet day: no intensity (as xclim: 0 / 0)
                    *o = if w == 0.0 { f64::NAN } else { *o / w };
                }
            }
        }
        Kind::Max => {
            per_day(out, &mut missing, b0, days.clone(), f64::NEG_INFINITY, f64::max);
            out.iter_mut().for_each(|o| *o *= u.scale);
        }
        Kind::MaxWindowSum(w) => {
            // windows ending on each day of the period; those that reach before the
            // available days (or over a missing lead day) do not count. The last `w`
            // days' values are kept in a ring, each converted once.
            out.fill(f64::NAN);
            let first_end = lead.max(w - 1);
            let mut ring = vec![vec![0f64; nc]; w];
            let mut sum = vec![0f64; nc];
            for d in first_end + 1 - w..steps {
                let slot = &mut ring[d % w];
                for (r, &x) in slot.iter_mut().zip(row(0, d)) {
                    *r = value(x);
                }
                if d >= lead {
                    for (m, r) in missing.iter_mut().zip(slot.iter()) {
                        *m |= r.is_nan();
                    }
                }
                if d < first_end {
                    continue;
                }
                // the sum of the window in day order, as one series would give it
                // (0 + x = x: it starts from the first day)
                sum.copy_from_slice(&ring[(d + 1 - w) % w]);
                for k in d + 2 - w..=d {
                    for (s, r) in sum.iter_mut().zip(&ring[k % w]) {
                        *s += r;
                    }
                }
                // the largest sum so far (a window over a missing day does not count);
                // without a branch, so that the loop vectorizes
                for (o, &s) in out.iter_mut().zip(&sum) {
                    let better = (s > *o) | (o.is_nan() & !s.is_nan());
                    *o = if better { s } else { *o };
                }
            }
            out.iter_mut().for_each(|o| *o *= u.scale);
        }
        // computed with their base period (`percentile`)
        Kind::PercentileDays(..) | Kind::WetPercentileDays(_) => out.fill(f64::NAN),
    }
    for (o, &m) in out.iter_mut().zip(&missing) {
        if m {
            *o = f64::NAN;
        }
    }
}

/// `out[c] = f(out[c], x)` for the value x of each cell `c0 + c` of a block of
/// `cells` cells on each of `days` in order, starting from `init`; marks the cells with
/// a missing day in `missing`.
fn per_day<T: Copy>(
    out: &mut [f64],
    missing: &mut [bool],
    (block, value, cells, c0): (&[T], impl Fn(T) -> f64, usize, usize),
    days: std::ops::Range<usize>,
    init: f64,
    f: impl Fn(f64, f64) -> f64,
) {
    out.fill(init);
    let nc = out.len();
    for t in days {
        for ((o, m), &x) in out.iter_mut().zip(missing.iter_mut()).zip(&block[t * cells + c0..t * cells + c0 + nc]) {
            let x = value(x);
            *o = f(*o, x);
            *m |= x.is_nan();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: Units = Units { scale: 1.0, offset: -273.15 };
    const FLUX: Units = Units { scale: 86_400.0, offset: 0.0 };

    fn one(name: &str, s: &[f64], lead: usize, u: Units) -> f64 {
        let mut out = [0.0];
        values(find(name).expect("index"), (&[s], |x| x), 1, 0, lead, &[u], &mut out);
        out[0]
    }

    #[test]
    fn counts_spells_and_sums() {
        let tx: Vec<f64> = [20.0, 26.0, 27.0, 24.0, 26.0, 25.0, -1.0].iter().map(|c| c + 273.15).collect();
        assert_eq!(one("SU", &tx, 0, K), 3.0); // 25.0 is not above 25
        assert_eq!(one("csu", &tx, 0, K), 2.0);
        assert_eq!(one("ID", &tx, 0, K), 1.0);
        assert!((one("TX", &tx, 0, K) - tx.iter().sum::<f64>() / 7.0).abs() < 1e-12);
        let tg = [270.15, 280.15, 278.15];
        assert!((one("GD4", &tg, 0, K) - (3.0 + 1.0)).abs() < 1e-9);
        assert!((one("HD17", &tg, 0, K) - (20.0 + 10.0 + 12.0)).abs() < 1e-9);
        let mut nan = tx.clone();
        nan[3] = f64::NAN;
        assert!(one("SU", &nan, 0, K).is_nan());
        // a missing day before the period does not matter
        assert_eq!(one("SU", &nan[4..], 0, K), 1.0);
    }

    #[test]
    fn precipitation() {
        let mm = [0.0, 2.0, 12.0, 0.5, 25.0, 1.0, 0.0, 0.0, 3.0];
        let pr: Vec<f64> = mm.iter().map(|x| x / 86_400.0).collect();
        assert_eq!(one("RR1", &pr, 0, FLUX), 5.0);
        assert_eq!(one("R10mm", &pr, 0, FLUX), 2.0);
        assert_eq!(one("R20mm", &pr, 0, FLUX), 1.0);
        assert_eq!(one("CWD", &pr, 0, FLUX), 2.0);
        assert_eq!(one("CDD", &pr, 0, FLUX), 2.0);
        assert!((one("PRCPTOT", &pr, 0, FLUX) - 43.0).abs() < 1e-9);
        assert!((one("SDII", &pr, 0, FLUX) - 43.0 / 5.0).abs() < 1e-9);
        assert!((one("RX1day", &pr, 0, FLUX) - 25.0).abs() < 1e-9);
        assert!((one("RX5day", &pr, 0, FLUX) - 40.5).abs() < 1e-9);
        // windows may start in the lead days, not before them
        assert!((one("RX5day", &pr, 4, FLUX) - 40.5).abs() < 1e-9);
        assert!((one("RX5day", &pr, 7, FLUX) - 29.0).abs() < 1e-9);
        assert!(one("RX5day", &pr[..3], 0, FLUX).is_nan());
        let mut dtr = [0.0];
        values(find("DTR").expect("DTR"), (&[&[300.0, 301.0], &[290.0, 289.0]], |x| x), 1, 0, 0, &[K, K], &mut dtr);
        assert!((dtr[0] - 11.0).abs() < 1e-12);
    }

    #[test]
    fn cells_of_a_block_are_independent_series() {
        // 3 cells of 9 days (day-major), with a missing day in the second cell
        let mm =
            [[0.0, 2.0, 12.0, 0.5, 25.0, 1.0, 0.0, 0.0, 3.0], [1.0; 9], [30.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]];
        let mut block = vec![0f32; 27];
        for (c, s) in mm.iter().enumerate() {
            for (t, &x) in s.iter().enumerate() {
                block[t * 3 + c] = (x / 86_400.0) as f32;
            }
        }
        block[4 * 3 + 1] = 1e20; // a fill value
        let value = |x: f32| if x > 1e19 { f64::NAN } else { f64::from(x) };
        for name in ["RR1", "CDD", "CWD", "PRCPTOT", "SDII", "RX1day", "RX5day"] {
            for lead in [0, 2] {
                let mut all = [0.0; 3];
                values(find(name).expect("index"), (&[&block], value), 3, 0, lead, &[FLUX], &mut all);
                let mut last = [0.0];
                values(find(name).expect("index"), (&[&block], value), 3, 2, lead, &[FLUX], &mut last);
                for c in 0..3 {
                    let series: Vec<f64> = (0..9).map(|t| value(block[t * 3 + c])).collect();
                    let one = one(name, &series, lead, FLUX);
                    assert!(one.to_bits() == all[c].to_bits() || one.is_nan() && all[c].is_nan(), "{name} cell {c}");
                }
                assert_eq!(last[0].to_bits(), all[2].to_bits(), "{name}");
            }
        }
    }

    #[test]
    fn units() {
        assert_eq!(Units::of(Input::Tas, "K"), Some(K));
        assert_eq!(Units::of(Input::Tas, "degC").map(|u| u.stored(25.0)), Some(25.0));
        assert_eq!(Units::of(Input::Tas, "degrees_Celsius").map(|u| u.offset), Some(0.0));
        assert_eq!(Units::of(Input::Pr, "kg m-2 s-1"), Some(FLUX));
        assert_eq!(Units::of(Input::Pr, "mm/day").map(|u| u.scale), Some(1.0));
        assert_eq!(Units::of(Input::Pr, "furlongs"), None);
        assert!((K.stored(25.0) - 298.15).abs() < 1e-12);
    }
}
