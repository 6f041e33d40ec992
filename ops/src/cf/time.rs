//! CF time coordinates: `<unit> since <reference date>` in a calendar.

use super::calendar::Calendar;
use crate::{Error, Result};
use std::fmt;

/// The largest year (either sign) a date may have: calendar arithmetic on larger ones
/// would overflow, and [`TimeUnits::decode`] gives no dates beyond a billion years.
pub const MAX_YEAR: i64 = 1_000_000_000;

/// A date and time in some calendar.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, serde::Serialize, serde::Deserialize)]
pub struct DateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: f64,
}

impl DateTime {
    /// Midnight of a date.
    pub fn date(year: i64, month: u32, day: u32) -> Self {
        DateTime { year, month, day, hour: 0, minute: 0, second: 0.0 }
    }

    /// Parse an ISO 8601-like date/time: `YYYY[-MM[-DD]][(T| )hh[:mm[:ss[.f]]]][Z|±hh:mm]`.
    /// Years may have any number of digits and a sign. The date is not checked against
    /// a calendar here (see [`Calendar::is_valid_date`]).
    pub fn parse(s: &str) -> Result<DateTime> {
        let bad = || Error::bad(format!("'{s}' is not a date (expected YYYY-MM-DD or YYYY-MM-DDThh:mm:ss)"));
        let s = s.trim();
        let (date, time) = match s.find(['T', 't', ' ']) {
            Some(i) => (&s[..i], s[i + 1..].trim()),
            None => (s, ""),
        };
        let (neg, date) = match date.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, date.strip_prefix('+').unwrap_or(date)),
        };
        let mut parts = date.split('-');
        let year: i64 = parts.next().filter(|p| !p.is_empty()).ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let month: u32 = parts.next().map_or(Ok(1), str::parse).map_err(|_| bad())?;
        let day: u32 = parts.next().map_or(Ok(1), str::parse).map_err(|_| bad())?;
        if parts.next().is_some()
            || !(1..=12).contains(&month)
            || !(1..=31).contains(&day)
            || !(-MAX_YEAR..=MAX_YEAR).contains(&year)
        {
            return Err(bad());
        }
        let mut dt = DateTime::date(if neg { -year } else { year }, month, day);
        // strip a zone designator: Z, UTC, +00:00, -00:00 (only UTC is meaningful here)
        let time = time.trim_end_matches(['Z', 'z']).trim();
        let time = time.strip_suffix("UTC").unwrap_or(time).trim();
        let time = match time.rfind(['+', '-']) {
            Some(i) if i > 0 => time[..i].trim(),
            _ => time,
        };
        if !time.is_empty() {
            let mut t = time.split(':');
            dt.hour = t.next().unwrap_or("0").trim().parse().map_err(|_| bad())?;
            dt.minute = t.next().map_or(Ok(0), |x| x.trim().parse()).map_err(|_| bad())?;
            dt.second = t.next().map_or(Ok(0.0), |x| x.trim().parse()).map_err(|_| bad())?;
            if dt.hour > 24 || dt.minute > 59 || !(0.0..61.0).contains(&dt.second) {
                return Err(bad());
            }
        }
        Ok(dt)
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sec = self.second;
        if self.year < 0 {
            write!(f, "-{:04}", -self.year)?;
        } else {
            write!(f, "{:04}", self.year)?;
        }
        write!(f, "-{:02}-{:02}T{:02}:{:02}:", self.month, self.day, self.hour, self.minute)?;
        if (sec - sec.round()).abs() < 1e-6 {
            write!(f, "{:02}", sec.round() as u32)
        } else {
            write!(f, "{:09.6}", sec)
        }
    }
}

/// Parsed CF time units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeUnits {
    /// Length of one unit in seconds.
    pub unit_seconds: f64,
    pub epoch: DateTime,
    pub calendar: Calendar,
}

impl TimeUnits {
    /// Parse `<unit> since <date>` (`days since 1850-01-01 0:0:0.0`).
    pub fn parse(units: &str, calendar: Calendar) -> Result<TimeUnits> {
        let lower = units.trim().to_ascii_lowercase();
        let (unit, since) = lower
            .split_once(" since ")
            .ok_or_else(|| Error::bad(format!("'{units}' are not CF time units (expected '<unit> since <date>')")))?;
        let unit_seconds = match unit.trim() {
            "days" | "day" | "d" => 86400.0,
            "hours" | "hour" | "hr" | "h" => 3600.0,
            "minutes" | "minute" | "min" => 60.0,
            "seconds" | "second" | "sec" | "s" => 1.0,
            "milliseconds" | "millisecond" | "msec" | "ms" => 1e-3,
            "microseconds" | "microsecond" | "us" => 1e-6,
            // UDUNITS definitions; CF discourages them but they occur.
            "months" | "month" => {
                if calendar == Calendar::Day360 {
                    30.0 * 86400.0
                } else {
                    30.436_875 * 86400.0
                }
            }
            "years" | "year" => {
                if calendar == Calendar::Day360 {
                    360.0 * 86400.0
                } else {
                    365.242_198_781 * 86400.0
                }
            }
            other => return Err(Error::bad(format!("unknown time unit '{other}' in '{units}'"))),
        };
        let epoch = DateTime::parse(since)?;
        Ok(TimeUnits { unit_seconds, epoch, calendar })
    }

    /// Seconds from the calendar's day zero to the epoch.
    pub fn epoch_seconds(&self) -> f64 {
        let e = &self.epoch;
        #[allow(clippy::cast_precision_loss)]
        let days = self.calendar.day_number(e.year, e.month, e.day) as f64;
        days * 86400.0 + f64::from(e.hour) * 3600.0 + f64::from(e.minute) * 60.0 + e.second
    }

    /// The date of a coordinate value (None for values that are not finite or lie
    /// beyond a billion years, e.g. fill values).
    pub fn decode(&self, value: f64) -> Option<DateTime> {
        let total = self.epoch_seconds() + value * self.unit_seconds;
        if !total.is_finite() || total.abs() > 3.2e16 {
            return None;
        }
        // round to the millisecond to absorb float noise
        let total = (total * 1000.0).round() / 1000.0;
        let days = (total / 86400.0).floor();
        let mut rem = total - days * 86400.0;
        #[allow(clippy::cast_possible_truncation)]
        let (year, month, day) = self.calendar.date_of(days as i64);
        let hour = (rem / 3600.0).floor();
        rem -= hour * 3600.0;
        let minute = (rem / 60.0).floor();
        rem -= minute * 60.0;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(DateTime { year, month, day, hour: hour as u32, minute: minute as u32, second: rem })
    }

    /// The coordinate value of a date. Fails when the date does not exist in the calendar.
    pub fn encode(&self, dt: &DateTime) -> Result<f64> {
        if !self.calendar.is_valid_date(dt.year, dt.month, dt.day) {
            return Err(Error::bad(format!(
                "{:04}-{:02}-{:02} does not exist in the {} calendar",
                dt.year, dt.month, dt.day, self.calendar
            )));
        }
        #[allow(clippy::cast_precision_loss)]
        let days = self.calendar.day_number(dt.year, dt.month, dt.day) as f64;
        let secs = days * 86400.0 + f64::from(dt.hour) * 3600.0 + f64::from(dt.minute) * 60.0 + dt.second;
        Ok((secs - self.epoch_seconds()) / self.unit_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_encode() {
        let u = TimeUnits::parse("days since 1850-01-01 0:0:0.0", Calendar::NoLeap).expect("units");
        let d = u.decode(15.5).expect("date");
        assert_eq!((d.year, d.month, d.day, d.hour), (1850, 1, 16, 12));
        assert_eq!(u.decode(365.0).expect("date").year, 1851);
        assert!(u.decode(9.96921e36).is_none());
        let u = TimeUnits::parse("days since 1949-12-01T00:00:00Z", Calendar::ProlepticGregorian).expect("units");
        let v = u.encode(&DateTime::parse("2021-01-16T12:00:00").expect("date")).expect("encode");
        assert_eq!(u.decode(v).expect("date").to_string(), "2021-01-16T12:00:00");
        let u360 = TimeUnits::parse("days since 1859-12-01", Calendar::Day360).expect("units");
        assert!(u360.encode(&DateTime::date(2015, 2, 30)).is_ok());
        let ustd = TimeUnits::parse("hours since 2000-01-01", Calendar::Standard).expect("units");
        assert!(ustd.encode(&DateTime::date(2015, 2, 30)).is_err());
        assert_eq!(ustd.decode(36.0).expect("date").to_string(), "2000-01-02T12:00:00");
    }

    #[test]
    fn years_beyond_a_billion_are_rejected() {
        // found by fuzzing: the day number of such a year overflowed i64
        assert!(DateTime::parse("9091318185915726051-01-01").is_err());
        assert!(DateTime::parse("-1000000001-01-01").is_err());
        let far = DateTime::parse("-1000000000-12-31").expect("date");
        let u = TimeUnits::parse("days since 1850-01-01", Calendar::ProlepticGregorian).expect("units");
        assert!(u.encode(&far).is_ok());
    }
}
