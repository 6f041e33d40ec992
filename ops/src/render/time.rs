//! Time axes in ISO 8601 as map services list them: runs of regularly spaced steps in
//! the compact `start/end/period` form, other steps one by one, dates in the dataset's
//! own calendar (a 360_day dataset lists 2015-02-30).

use super::layer::TimeAxis;
use crate::cf::DateTime;

/// A date as ISO 8601 UTC (`2015-01-16T12:00:00Z`).
pub fn iso(dt: &DateTime) -> String {
    format!("{dt}Z")
}

/// An ISO 8601 duration of whole seconds (`P1D`, `PT6H`, `P1DT12H`).
pub fn duration(seconds: f64) -> String {
    #[allow(clippy::cast_possible_truncation)]
    let total = seconds.round() as i64;
    let (d, rem) = (total / 86400, total % 86400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let mut out = String::from("P");
    if d > 0 {
        out.push_str(&format!("{d}D"));
    }
    if rem > 0 {
        out.push('T');
        if h > 0 {
            out.push_str(&format!("{h}H"));
        }
        if m > 0 {
            out.push_str(&format!("{m}M"));
        }
        if s > 0 {
            out.push_str(&format!("{s}S"));
        }
    }
    if out == "P" {
        out.push_str("T0S");
    }
    out
}

fn month_index(d: &DateTime) -> i64 {
    d.year * 12 + i64::from(d.month) - 1
}

fn same_time_of_month(a: &DateTime, b: &DateTime) -> bool {
    a.day == b.day && a.hour == b.hour && a.minute == b.minute && (a.second - b.second).abs() < 1e-3
}

/// One piece of a time axis listing.
#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    /// A run of regularly spaced steps: first index, last index, period.
    Run { first: usize, last: usize, period: String },
    /// A single step.
    One(usize),
}

/// Shortest run of whole months listed as `start/end/period`.
const MIN_MONTH_RUN: usize = 3;
/// Shortest run of a constant interval listed as `start/end/period` (mid-month dates
/// of the standard calendar have short runs of equal intervals that are better listed).
const MIN_INTERVAL_RUN: usize = 10;

/// Split a time axis into runs of regular steps (same day and time of month and a
/// constant number of months, or a constant interval) and single steps.
pub fn pieces(axis: &TimeAxis) -> Vec<Piece> {
    let v = &axis.values;
    let d = &axis.dates;
    let n = v.len().min(d.len());
    let eps = 0.5 / axis.units.unit_seconds;
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        if i + MIN_MONTH_RUN <= n {
            if let (Some(a), Some(b)) = (d[i], d[i + 1]) {
                let k = month_index(&b) - month_index(&a);
                if k > 0 && same_time_of_month(&a, &b) {
                    let mut j = i + 1;
                    while j + 1 < n
                        && matches!((d[j], d[j + 1]), (Some(p), Some(q)) if same_time_of_month(&p, &q) && month_index(&q) - month_index(&p) == k)
                    {
                        j += 1;
                    }
                    if j + 1 - i >= MIN_MONTH_RUN {
                        let period = if k % 12 == 0 { format!("P{}Y", k / 12) } else { format!("P{k}M") };
                        out.push(Piece::Run { first: i, last: j, period });
                        i = j + 1;
                        continue;
                    }
                }
            }
            let s = v[i + 1] - v[i];
            if s > eps && d[i].is_some() {
                let mut j = i + 1;
                while j + 1 < n && ((v[j + 1] - v[j]) - s).abs() <= eps && d[j + 1].is_some() {
                    j += 1;
                }
                if j + 1 - i >= MIN_INTERVAL_RUN && d[j].is_some() {
                    out.push(Piece::Run { first: i, last: j, period: duration(s * axis.units.unit_seconds) });
                    i = j + 1;
                    continue;
                }
            }
        }
        if d[i].is_some() {
            out.push(Piece::One(i));
        }
        i += 1;
    }
    out
}

/// The ISO 8601 listing of a time axis: comma-separated values and
/// `start/end/period` runs.
pub fn listing(axis: &TimeAxis) -> String {
    let show = |i: usize| axis.dates[i].map(|d| iso(&d)).unwrap_or_default();
    pieces(axis)
        .iter()
        .map(|p| match p {
            Piece::Run { first, last, period } => format!("{}/{}/{period}", show(*first), show(*last)),
            Piece::One(i) => show(*i),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The period of a time axis when the whole axis is one regular run.
pub fn regular_period(axis: &TimeAxis) -> Option<String> {
    match pieces(axis).as_slice() {
        [Piece::Run { first: 0, last, period }] if *last + 1 == axis.values.len() => Some(period.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cf::{Calendar, TimeUnits};

    fn axis(units: &str, cal: Calendar, values: Vec<f64>) -> TimeAxis {
        let u = TimeUnits::parse(units, cal).expect("units");
        let dates = values.iter().map(|&v| u.decode(v)).collect();
        TimeAxis { dim: "time".into(), values, units: u, dates }
    }

    #[test]
    fn daily_150_years_is_one_run() {
        let n = 150 * 365;
        let a = axis("days since 1850-01-01", Calendar::NoLeap, (0..n).map(|i| f64::from(i) + 0.5).collect());
        let s = listing(&a);
        assert_eq!(s, "1850-01-01T12:00:00Z/1999-12-31T12:00:00Z/P1D");
        assert_eq!(regular_period(&a).as_deref(), Some("P1D"));
    }

    #[test]
    fn monthly_360_day_lists_its_calendar() {
        let a = axis("days since 2015-01-01", Calendar::Day360, (0..24).map(|i| f64::from(i) * 30.0 + 15.0).collect());
        assert_eq!(listing(&a), "2015-01-16T00:00:00Z/2016-12-16T00:00:00Z/P1M");
        let b = axis("days since 2015-01-01", Calendar::Day360, vec![59.0, 89.0]);
        assert_eq!(listing(&b), "2015-02-30T00:00:00Z,2015-03-30T00:00:00Z");
    }

    #[test]
    fn irregular_and_gaps() {
        // mid-month in the standard calendar is irregular: every step is listed
        let mid = [15.5, 45.0, 74.5, 105.0, 135.5, 166.0, 196.5, 227.5, 258.0, 288.5, 319.0, 349.5];
        let a = axis("days since 2015-01-01", Calendar::Standard, mid.to_vec());
        assert_eq!(listing(&a).split(',').count(), 12);
        assert!(!listing(&a).contains('/'));
        // a gap splits runs
        let mut v: Vec<f64> = (0..12).map(|i| 6.0 * f64::from(i)).collect();
        v.extend((0..12).map(|i| 100.0 + 6.0 * f64::from(i)));
        let b = axis("hours since 2000-01-01", Calendar::Standard, v);
        assert_eq!(
            listing(&b),
            "2000-01-01T00:00:00Z/2000-01-03T18:00:00Z/PT6H,2000-01-05T04:00:00Z/2000-01-07T22:00:00Z/PT6H"
        );
        assert_eq!(duration(86400.0 * 1.5), "P1DT12H");
    }
}
