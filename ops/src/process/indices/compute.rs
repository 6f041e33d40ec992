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

/// The value of `ix` for one cell over one period: `series` holds one slice per input
/// (in `ix.inputs` order), each `lead` days before the period followed by its days;
/// `units` per input. NaN when a day of the period is missing.
pub fn value(ix: &Index, series: &[&[f64]], lead: usize, units: &[Units]) -> f64 {
    let days = |k: usize| &series[k][lead..];
    if series.iter().any(|s| s[lead..].iter().any(|x| x.is_nan())) || series[0].len() <= lead {
        return f64::NAN;
    }
    let u = units[0];
    let n = days(0).len() as f64;
    match ix.kind {
        Kind::Mean => days(0).iter().sum::<f64>() / n,
        Kind::MeanDifference => days(0).iter().zip(days(1)).map(|(a, b)| a - b).sum::<f64>() / n,
        Kind::Count(op, t) => {
            let t = u.stored(t);
            days(0).iter().filter(|&&x| op.holds(x, t)).count() as f64
        }
        Kind::Spell(op, t) => {
            let t = u.stored(t);
            let (mut run, mut best) = (0usize, 0usize);
            for &x in days(0) {
                run = if op.holds(x, t) { run + 1 } else { 0 };
                best = best.max(run);
            }
            best as f64
        }
        Kind::DegreeDays(above, t) => {
            let t = u.stored(t);
            days(0).iter().map(|&x| if above { (x - t).max(0.0) } else { (t - x).max(0.0) }).sum::<f64>() * u.scale
        }
        Kind::WetDayIntensity(t) | Kind::WetDayTotal(t) => {
            let t = u.stored(t);
            let (mut sum, mut wet) = (0.0, 0usize);
            for &x in days(0).iter().filter(|&&x| x >= t) {
                sum += x;
                wet += 1;
            }
            let total = sum * u.scale;
            match ix.kind {
                Kind::WetDayTotal(_) => total,
                // no wet day: no intensity (as xclim: 0 / 0)
                _ if wet == 0 => f64::NAN,
                _ => total / wet as f64,
            }
        }
        Kind::Max => days(0).iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x)) * u.scale,
        Kind::MaxWindowSum(w) => {
            // windows ending on each day of the period; those that reach before the
            // available series (or over a missing lead day) do not count
            let s = series[0];
            let mut best = f64::NAN;
            for end in lead.max(w - 1)..s.len() {
                let win = &s[end + 1 - w..=end];
                if win.iter().all(|x| !x.is_nan()) {
                    let sum: f64 = win.iter().sum();
                    if best.is_nan() || sum > best {
                        best = sum;
                    }
                }
            }
            best * u.scale
        }
        // computed with their base period (`percentile`)
        Kind::PercentileDays(..) | Kind::WetPercentileDays(_) => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: Units = Units { scale: 1.0, offset: -273.15 };
    const FLUX: Units = Units { scale: 86_400.0, offset: 0.0 };

    fn one(name: &str, s: &[f64], lead: usize, u: Units) -> f64 {
        value(find(name).expect("index"), &[s], lead, &[u])
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
        let dtr = value(find("DTR").expect("DTR"), &[&[300.0, 301.0], &[290.0, 289.0]], 0, &[K, K]);
        assert!((dtr - 11.0).abs() < 1e-12);
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
