//! The processing vocabulary shared by every protocol (WPS, OGC API - Processes, the
//! CDS API): parsing `time`, `time_components`, `area`, `level`, `dims`, `freq` from the
//! strings users send, with messages that say what is wrong.

use crate::cf::time::MAX_YEAR;
use crate::cf::{Calendar, DateTime};
use crate::{Error, Result};

/// A date with the precision it was given in (`2015` is a year, `2015-02` a month).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TimePoint {
    pub dt: DateTime,
    /// Number of fields given: 1 year, 2 month, 3 day, 4 hour, 5 minute, 6 second.
    pub precision: u8,
}

impl TimePoint {
    /// Parse `YYYY[-MM[-DD[Thh[:mm[:ss]]]]]` (space or `T`, optional `Z`).
    pub fn parse(s: &str) -> Result<TimePoint> {
        let t = s.trim().trim_end_matches(['Z', 'z']);
        let bad = || {
            Error::bad(format!("'{s}' is not a date/time (expected ISO 8601, e.g. 2015-01-31 or 2015-01-31T12:00:00)"))
        };
        if t.is_empty() {
            return Err(bad());
        }
        let (neg, body) = match t.strip_prefix('-') {
            Some(b) => (true, b),
            None => (false, t),
        };
        let fields: Vec<&str> = body.split(['-', 'T', 't', ' ', ':']).filter(|f| !f.is_empty()).collect();
        if fields.is_empty() || fields.len() > 6 {
            return Err(bad());
        }
        let mut v = [1i64, 1, 1, 0, 0, 0];
        let mut sec = 0.0f64;
        for (i, f) in fields.iter().enumerate() {
            if i == 5 {
                sec = f.parse().map_err(|_| bad())?;
            } else {
                v[i] = f.parse().map_err(|_| bad())?;
            }
        }
        if neg {
            v[0] = -v[0];
        }
        let ok = (-MAX_YEAR..=MAX_YEAR).contains(&v[0])
            && (1..=12).contains(&v[1])
            && (1..=31).contains(&v[2])
            && (0..=23).contains(&v[3])
            && (0..=59).contains(&v[4])
            && (0.0..60.0).contains(&sec);
        if !ok {
            return Err(bad());
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let dt = DateTime {
            year: v[0],
            month: v[1] as u32,
            day: v[2] as u32,
            hour: v[3] as u32,
            minute: v[4] as u32,
            second: sec,
        };
        Ok(TimePoint { dt, precision: u8::try_from(fields.len()).unwrap_or(6) })
    }

    /// The first instant of the point, which must exist in the calendar when its day was
    /// given (2015-02-30 is fine in a 360_day calendar, an error in the standard one).
    pub fn start(&self, cal: Calendar) -> Result<DateTime> {
        self.check(cal)?;
        Ok(self.dt)
    }

    /// The last instant of the period the point names (the end of the month for
    /// `2015-02`, in the calendar), for the end of an interval.
    pub fn end(&self, cal: Calendar) -> Result<DateTime> {
        self.check(cal)?;
        let mut d = self.dt;
        if self.precision < 2 {
            d.month = 12;
        }
        if self.precision < 3 {
            d.day = cal.days_in_month(d.year, d.month);
        }
        if self.precision < 4 {
            d.hour = 23;
        }
        if self.precision < 5 {
            d.minute = 59;
        }
        if self.precision < 6 {
            d.second = 59.999;
        }
        Ok(d)
    }

    fn check(&self, cal: Calendar) -> Result<()> {
        let d = &self.dt;
        if self.precision >= 3 && !cal.is_valid_date(d.year, d.month, d.day) {
            return Err(Error::bad(format!(
                "{:04}-{:02}-{:02} does not exist in the {} calendar of this dataset",
                d.year,
                d.month,
                d.day,
                cal.name()
            )));
        }
        Ok(())
    }
}

/// The `time` input: an interval (either end open) or a list of instants.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TimeParam {
    Range { start: Option<TimePoint>, end: Option<TimePoint> },
    Instants(Vec<TimePoint>),
}

impl TimeParam {
    /// Parse `start/end` (`2015-01-01/2020-12-31`, `2015/`, `/2020`) or `t1,t2,...`.
    /// An empty string or `/` means no selection.
    pub fn parse(s: &str) -> Result<Option<TimeParam>> {
        let s = s.trim();
        if s.is_empty() || s == "/" {
            return Ok(None);
        }
        if let Some((a, b)) = s.split_once('/') {
            if b.contains('/') {
                return Err(Error::bad(format!("time '{s}' has more than one '/': give start/end")));
            }
            let parse = |x: &str| if x.trim().is_empty() { Ok(None) } else { TimePoint::parse(x).map(Some) };
            return Ok(Some(TimeParam::Range { start: parse(a)?, end: parse(b)? }));
        }
        let items: Result<Vec<TimePoint>> = s.split(',').map(TimePoint::parse).collect();
        Ok(Some(TimeParam::Instants(items?)))
    }
}

/// The `time_components` input: lists of allowed years, months, days, hours, minutes.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TimeComponents {
    pub year: Option<Vec<i64>>,
    pub month: Option<Vec<u32>>,
    pub day: Option<Vec<u32>>,
    pub hour: Option<Vec<u32>>,
    pub minute: Option<Vec<u32>>,
    pub second: Option<Vec<u32>>,
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

impl TimeComponents {
    /// Parse `year:2015,2016|month:jan,feb,12|day:01,15|hour:00,12`.
    pub fn parse(s: &str) -> Result<Option<TimeComponents>> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        let bad = |why: String| {
            Error::bad(format!(
                "time_components '{s}': {why} (expected e.g. year:2015,2016|month:jan,feb,12|day:01,15|hour:00,12)"
            ))
        };
        let mut tc = TimeComponents::default();
        for part in s.split('|') {
            let (key, values) = part.split_once(':').ok_or_else(|| bad(format!("'{part}' has no ':'")))?;
            let items: Vec<&str> = values.split(',').map(str::trim).filter(|v| !v.is_empty()).collect();
            if items.is_empty() {
                return Err(bad(format!("'{key}' has no values")));
            }
            let nums = |lo: u32, hi: u32| -> Result<Vec<u32>> {
                items
                    .iter()
                    .map(|v| match v.parse::<u32>() {
                        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
                        _ => Err(bad(format!("'{v}' is not a valid {} ({lo}-{hi})", key.trim()))),
                    })
                    .collect()
            };
            match key.trim().to_ascii_lowercase().as_str() {
                "year" => {
                    tc.year = Some(
                        items
                            .iter()
                            .map(|v| v.parse::<i64>().map_err(|_| bad(format!("'{v}' is not a year"))))
                            .collect::<Result<_>>()?,
                    );
                }
                "month" => {
                    tc.month = Some(
                        items
                            .iter()
                            .map(|v| {
                                let l = v.to_ascii_lowercase();
                                match MONTHS.iter().position(|m| l.starts_with(m) && l.len() >= 3) {
                                    Some(i) => Ok(u32::try_from(i + 1).unwrap_or(1)),
                                    None => match v.parse::<u32>() {
                                        Ok(n) if (1..=12).contains(&n) => Ok(n),
                                        _ => Err(bad(format!("'{v}' is not a month (1-12 or jan-dec)"))),
                                    },
                                }
                            })
                            .collect::<Result<_>>()?,
                    );
                }
                "day" => tc.day = Some(nums(1, 31)?),
                "hour" => tc.hour = Some(nums(0, 23)?),
                "minute" => tc.minute = Some(nums(0, 59)?),
                "second" => tc.second = Some(nums(0, 59)?),
                other => {
                    return Err(bad(format!("unknown component '{other}' (year, month, day, hour, minute, second)")))
                }
            }
        }
        Ok(Some(tc))
    }

    /// True when a date/time has all the listed components.
    pub fn matches(&self, d: &DateTime) -> bool {
        let has = |l: &Option<Vec<u32>>, x: u32| l.as_ref().is_none_or(|l| l.contains(&x));
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let sec = d.second.round() as u32;
        self.year.as_ref().is_none_or(|l| l.contains(&d.year))
            && has(&self.month, d.month)
            && has(&self.day, d.day)
            && has(&self.hour, d.hour)
            && has(&self.minute, d.minute)
            && has(&self.second, sec)
    }
}

/// The `area` input: `W,S,E,N` in degrees; reversed pairs are swapped.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Area {
    pub west: f64,
    pub south: f64,
    pub east: f64,
    pub north: f64,
}

impl Area {
    /// Parse `W,S,E,N` (commas or spaces).
    pub fn parse(s: &str) -> Result<Option<Area>> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        let v: Vec<&str> = s.split([',', ' ']).filter(|x| !x.is_empty()).collect();
        if v.len() != 4 {
            return Err(Error::bad(format!("area '{s}' must have 4 values W,S,E,N but has {}", v.len())));
        }
        let n: Vec<f64> = v
            .iter()
            .map(|x| {
                x.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| Error::bad(format!("area value '{x}' is not a number")))
            })
            .collect::<Result<_>>()?;
        Ok(Some(Area::new(n[0], n[1], n[2], n[3])?))
    }

    /// An area from its bounds (swapped when reversed; latitudes must lie in -90..90).
    pub fn new(w: f64, s: f64, e: f64, n: f64) -> Result<Area> {
        let (south, north) = if s <= n { (s, n) } else { (n, s) };
        if south < -90.0 || north > 90.0 {
            return Err(Error::bad(format!("area latitudes {s} and {n} must lie within -90..90")));
        }
        let (west, east) = if w <= e { (w, e) } else { (e, w) };
        if east - west > 720.0 {
            return Err(Error::bad(format!("area longitudes {w} and {e} span more than 720 degrees")));
        }
        Ok(Area { west, south, east, north })
    }
}

/// The `level` input: an interval (open ends allowed) or a list of values.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum LevelParam {
    Range { lo: Option<f64>, hi: Option<f64> },
    Values(Vec<f64>),
}

impl LevelParam {
    /// Parse `lo/hi` (`1000/2000`, `/850`) or `v1,v2,...`.
    pub fn parse(s: &str) -> Result<Option<LevelParam>> {
        let s = s.trim();
        if s.is_empty() || s == "/" {
            return Ok(None);
        }
        let num = |x: &str| {
            x.trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| Error::bad(format!("level value '{}' is not a number", x.trim())))
        };
        if let Some((a, b)) = s.split_once('/') {
            let opt = |x: &str| if x.trim().is_empty() { Ok(None) } else { num(x).map(Some) };
            return Ok(Some(LevelParam::Range { lo: opt(a)?, hi: opt(b)? }));
        }
        Ok(Some(LevelParam::Values(s.split(',').map(num).collect::<Result<_>>()?)))
    }
}

/// A dimension to average over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum AvgDim {
    Time,
    Level,
    Latitude,
    Longitude,
    Realization,
}

impl AvgDim {
    /// Parse one name.
    pub fn parse(s: &str) -> Result<AvgDim> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "time" => AvgDim::Time,
            "level" => AvgDim::Level,
            "latitude" | "lat" => AvgDim::Latitude,
            "longitude" | "lon" => AvgDim::Longitude,
            "realization" => AvgDim::Realization,
            other => {
                return Err(Error::bad(format!(
                    "'{other}' is not a dimension to average over: use time, level, latitude, longitude or realization"
                )))
            }
        })
    }

    /// The axis letter used in output file names (`_avg-xy`).
    pub fn letter(self) -> char {
        match self {
            AvgDim::Time => 't',
            AvgDim::Level => 'z',
            AvgDim::Latitude => 'y',
            AvgDim::Longitude => 'x',
            AvgDim::Realization => 'r',
        }
    }

    /// The name in `cell_methods`.
    pub fn name(self) -> &'static str {
        match self {
            AvgDim::Time => "time",
            AvgDim::Level => "level",
            AvgDim::Latitude => "latitude",
            AvgDim::Longitude => "longitude",
            AvgDim::Realization => "realization",
        }
    }
}

/// The period of an `average_time`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Freq {
    Day,
    Month,
    Season,
    Year,
}

impl Freq {
    /// Parse `day`, `month`, `season`, `year`.
    pub fn parse(s: &str) -> Result<Freq> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "day" | "daily" => Freq::Day,
            "month" | "monthly" => Freq::Month,
            "season" | "seasonal" => Freq::Season,
            "year" | "yearly" | "annual" => Freq::Year,
            other => {
                return Err(Error::bad(format!(
                    "'{other}' is not a frequency to average over: use day, month, season or year"
                )))
            }
        })
    }

    /// The name used in file names and metadata.
    pub fn name(self) -> &'static str {
        match self {
            Freq::Day => "day",
            Freq::Month => "month",
            Freq::Season => "season",
            Freq::Year => "year",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_params() {
        let Some(TimeParam::Range { start, end }) = TimeParam::parse("2015-02/2015-02").expect("parse") else {
            panic!()
        };
        let end = end.expect("end");
        assert_eq!(end.end(Calendar::Day360).expect("end").day, 30);
        assert_eq!(end.end(Calendar::Standard).expect("end").day, 28);
        assert_eq!(start.expect("start").start(Calendar::NoLeap).expect("start").day, 1);
        let p = TimePoint::parse("2015-02-30").expect("parse");
        assert!(p.start(Calendar::Day360).is_ok());
        assert!(p.start(Calendar::Standard).is_err());
        assert!(matches!(TimeParam::parse("2015/").expect("parse"), Some(TimeParam::Range { end: None, .. })));
        assert!(
            matches!(TimeParam::parse("2015-01-16T12:00:00Z,2016-01-16").expect("parse"), Some(TimeParam::Instants(v)) if v.len() == 2)
        );
        assert!(TimeParam::parse("2015-13-01/2016").is_err());
        assert!(TimeParam::parse("a/b").is_err());
        assert!(TimeParam::parse("").expect("empty").is_none());
    }

    #[test]
    fn years_beyond_a_billion_are_rejected() {
        // found by fuzzing (CDS "date"): the day number of such a year overflowed i64
        assert!(TimeParam::parse("0000000000000000000000009091318185915726051-01-01/1910-12-31").is_err());
        assert!(TimePoint::parse("-1000000001").is_err());
        let p = TimePoint::parse("1000000000-12").expect("parse");
        assert_eq!(p.end(Calendar::Standard).expect("end").day, 31);
    }

    #[test]
    fn components_area_level() {
        let tc = TimeComponents::parse("year:2015,2016|month:jan,feb,12|day:01,15|hour:00,12")
            .expect("parse")
            .expect("some");
        assert_eq!(tc.month, Some(vec![1, 2, 12]));
        assert!(tc.matches(&DateTime { year: 2016, month: 12, day: 15, hour: 12, minute: 0, second: 0.0 }));
        assert!(!tc.matches(&DateTime { year: 2016, month: 3, day: 15, hour: 12, minute: 0, second: 0.0 }));
        assert!(TimeComponents::parse("week:1").is_err());
        assert!(TimeComponents::parse("month:13").is_err());
        assert_eq!(
            Area::parse("10,60,-10,40").expect("parse"),
            Some(Area { west: -10.0, south: 40.0, east: 10.0, north: 60.0 })
        );
        assert!(Area::parse("1,2,3").is_err());
        assert!(Area::parse("0,-100,10,10").is_err());
        assert_eq!(LevelParam::parse("/850").expect("parse"), Some(LevelParam::Range { lo: None, hi: Some(850.0) }));
        assert_eq!(LevelParam::parse("1000, 850").expect("parse"), Some(LevelParam::Values(vec![1000.0, 850.0])));
        assert!(AvgDim::parse("height").is_err());
        assert_eq!(Freq::parse("season").expect("freq"), Freq::Season);
    }
}
