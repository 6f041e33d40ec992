//! CF calendars and the date arithmetic needed to build time axes.

use std::fmt;
use std::str::FromStr;

/// A CF calendar (the value of a time variable's `calendar` attribute).
///
/// `Standard` is the mixed Julian/Gregorian calendar; all dates written by this crate
/// are after 1582-10-15, where it equals `ProlepticGregorian`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Calendar {
    /// `standard` (alias `gregorian`).
    Standard,
    /// `proleptic_gregorian`.
    ProlepticGregorian,
    /// `noleap` (alias `365_day`): every year has 365 days.
    #[default]
    Noleap,
    /// `all_leap` (alias `366_day`): every year has 366 days.
    AllLeap,
    /// `360_day`: twelve months of 30 days.
    Day360,
    /// `julian`: a leap year every four years.
    Julian,
}

/// Error for a calendar name that is not a CF calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCalendar(pub String);

impl fmt::Display for UnknownCalendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown calendar {:?} (expected standard, gregorian, proleptic_gregorian, \
             noleap, 365_day, all_leap, 366_day, 360_day or julian)",
            self.0
        )
    }
}

impl std::error::Error for UnknownCalendar {}

impl FromStr for Calendar {
    type Err = UnknownCalendar;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "standard" | "gregorian" => Ok(Self::Standard),
            "proleptic_gregorian" => Ok(Self::ProlepticGregorian),
            "noleap" | "365_day" => Ok(Self::Noleap),
            "all_leap" | "366_day" => Ok(Self::AllLeap),
            "360_day" => Ok(Self::Day360),
            "julian" => Ok(Self::Julian),
            _ => Err(UnknownCalendar(s.to_string())),
        }
    }
}

impl fmt::Display for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.cf_name())
    }
}

/// A calendar date (year, month 1–12, day 1–31).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// Year (astronomical numbering).
    pub year: i32,
    /// Month, 1–12.
    pub month: u32,
    /// Day of month, starting at 1.
    pub day: u32,
}

impl Date {
    /// A date from its parts (not validated against a calendar).
    pub const fn new(year: i32, month: u32, day: u32) -> Self {
        Self { year, month, day }
    }

    /// `YYYYMMDD`, as in the time range of a daily DRS file name.
    pub fn compact_day(self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }

    /// `YYYYMM`, as in the time range of a monthly DRS file name.
    pub fn compact_month(self) -> String {
        format!("{:04}{:02}", self.year, self.month)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

const MONTH_DAYS: [u32; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

impl Calendar {
    /// The CF name written to the `calendar` attribute.
    pub fn cf_name(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::ProlepticGregorian => "proleptic_gregorian",
            Self::Noleap => "noleap",
            Self::AllLeap => "all_leap",
            Self::Day360 => "360_day",
            Self::Julian => "julian",
        }
    }

    /// Whether `year` has a 29 February in this calendar.
    pub fn is_leap(self, year: i32) -> bool {
        match self {
            Self::Standard | Self::ProlepticGregorian => (year % 4 == 0 && year % 100 != 0) || year % 400 == 0,
            Self::Julian => year % 4 == 0,
            Self::AllLeap => true,
            Self::Noleap | Self::Day360 => false,
        }
    }

    /// Number of days in `month` (1–12) of `year`.
    pub fn days_in_month(self, year: i32, month: u32) -> u32 {
        let index = month.clamp(1, 12) as usize - 1;
        match self {
            Self::Day360 => 30,
            _ if month == 2 && self.is_leap(year) => 29,
            _ => MONTH_DAYS[index],
        }
    }

    /// Number of days in `year`.
    pub fn days_in_year(self, year: i32) -> u32 {
        match self {
            Self::Day360 => 360,
            _ if self.is_leap(year) => 366,
            _ => 365,
        }
    }

    /// Days from 0001-01-01 to the first of January of `year`.
    fn days_before_year(self, year: i32) -> i64 {
        let y = i64::from(year) - 1;
        match self {
            Self::Standard | Self::ProlepticGregorian => {
                365 * y + y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400)
            }
            Self::Julian => 365 * y + y.div_euclid(4),
            Self::Noleap => 365 * y,
            Self::AllLeap => 366 * y,
            Self::Day360 => 360 * y,
        }
    }

    /// Days from 0001-01-01 to `date`.
    pub fn ordinal(self, date: Date) -> i64 {
        let months: i64 = (1..date.month).map(|m| i64::from(self.days_in_month(date.year, m))).sum();
        self.days_before_year(date.year) + months + i64::from(date.day) - 1
    }

    /// The date `ordinal` days after 0001-01-01 (inverse of [`Calendar::ordinal`]).
    pub fn date(self, ordinal: i64) -> Date {
        let mean_year = match self {
            Self::Day360 => 360.0,
            Self::Noleap => 365.0,
            Self::AllLeap => 366.0,
            Self::Julian => 365.25,
            Self::Standard | Self::ProlepticGregorian => 365.2425,
        };
        // The estimate is within a year of the answer; step to it.
        let mut year = (ordinal as f64 / mean_year).floor() as i32 + 1;
        while self.days_before_year(year) > ordinal {
            year -= 1;
        }
        while self.days_before_year(year + 1) <= ordinal {
            year += 1;
        }
        let mut rest = ordinal - self.days_before_year(year);
        let mut month = 1;
        while month < 12 && rest >= i64::from(self.days_in_month(year, month)) {
            rest -= i64::from(self.days_in_month(year, month));
            month += 1;
        }
        Date::new(year, month, rest as u32 + 1)
    }

    /// Days from `from` to `to` (negative when `to` is earlier).
    pub fn days_between(self, from: Date, to: Date) -> i64 {
        self.ordinal(to) - self.ordinal(from)
    }

    /// The date `days` days after `date`.
    pub fn add_days(self, date: Date, days: i64) -> Date {
        self.date(self.ordinal(date) + days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noleap_days_since_1850() {
        let days = Calendar::Noleap.days_between(Date::new(1850, 1, 1), Date::new(2015, 1, 1));
        assert_eq!(days, 165 * 365);
    }

    #[test]
    fn gregorian_days_match_known_values() {
        let cal = Calendar::ProlepticGregorian;
        // 1970-01-01 is day 719162 after 0001-01-01 in the proleptic Gregorian calendar.
        assert_eq!(cal.ordinal(Date::new(1970, 1, 1)), 719_162);
        assert_eq!(cal.days_between(Date::new(1949, 12, 1), Date::new(2071, 1, 1)), 44_226);
    }

    #[test]
    fn round_trips_in_every_calendar() {
        for cal in [
            Calendar::Standard,
            Calendar::ProlepticGregorian,
            Calendar::Noleap,
            Calendar::AllLeap,
            Calendar::Day360,
            Calendar::Julian,
        ] {
            let start = cal.ordinal(Date::new(1999, 1, 1));
            for n in start..start + 3 * 366 {
                assert_eq!(cal.ordinal(cal.date(n)), n, "{cal} {n}");
            }
            assert_eq!(cal.add_days(Date::new(2000, 2, 28), 1).month, {
                if cal.is_leap(2000) || cal == Calendar::Day360 {
                    2
                } else {
                    3
                }
            });
        }
    }

    #[test]
    fn parses_cf_names() {
        assert_eq!("360_day".parse(), Ok(Calendar::Day360));
        assert_eq!("gregorian".parse(), Ok(Calendar::Standard));
        assert!("lunar".parse::<Calendar>().is_err());
    }
}
