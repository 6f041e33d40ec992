//! CF calendars and date arithmetic: standard (mixed Julian/Gregorian),
//! proleptic_gregorian, julian, noleap/365_day, all_leap/366_day and 360_day.

use std::fmt;

/// A CF calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Calendar {
    /// `standard`/`gregorian`: Julian before 1582-10-15, Gregorian after.
    Standard,
    ProlepticGregorian,
    Julian,
    /// `noleap` / `365_day`.
    NoLeap,
    /// `all_leap` / `366_day`.
    AllLeap,
    /// `360_day`: twelve months of 30 days.
    Day360,
}

const CUM_NOLEAP: [i64; 13] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];
const CUM_LEAP: [i64; 13] = [0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335, 366];

impl Calendar {
    /// Parse a CF `calendar` attribute (case-insensitive). Unknown names give None.
    pub fn parse(name: &str) -> Option<Calendar> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "standard" | "gregorian" | "" => Calendar::Standard,
            "proleptic_gregorian" => Calendar::ProlepticGregorian,
            "julian" => Calendar::Julian,
            "noleap" | "365_day" => Calendar::NoLeap,
            "all_leap" | "366_day" => Calendar::AllLeap,
            "360_day" => Calendar::Day360,
            _ => return None,
        })
    }

    /// The canonical CF name.
    pub fn name(self) -> &'static str {
        match self {
            Calendar::Standard => "standard",
            Calendar::ProlepticGregorian => "proleptic_gregorian",
            Calendar::Julian => "julian",
            Calendar::NoLeap => "noleap",
            Calendar::AllLeap => "all_leap",
            Calendar::Day360 => "360_day",
        }
    }

    /// True when `year` has a 29 February in this calendar.
    pub fn is_leap(self, year: i64) -> bool {
        let greg = year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0);
        match self {
            Calendar::ProlepticGregorian => greg,
            Calendar::Julian => year.rem_euclid(4) == 0,
            Calendar::Standard => {
                if year < 1582 {
                    year.rem_euclid(4) == 0
                } else {
                    greg
                }
            }
            Calendar::NoLeap | Calendar::Day360 => false,
            Calendar::AllLeap => true,
        }
    }

    /// Number of days in `month` (1-12) of `year`.
    pub fn days_in_month(self, year: i64, month: u32) -> u32 {
        if self == Calendar::Day360 {
            return 30;
        }
        let m = month.clamp(1, 12) as usize;
        let cum = if self.is_leap(year) { &CUM_LEAP } else { &CUM_NOLEAP };
        u32::try_from(cum[m] - cum[m - 1]).unwrap_or(30)
    }

    /// True when the date exists in this calendar (2015-02-30 exists only in 360_day;
    /// 1582-10-10 does not exist in the standard calendar).
    pub fn is_valid_date(self, year: i64, month: u32, day: u32) -> bool {
        if !(1..=12).contains(&month) || day < 1 || day > self.days_in_month(year, month) {
            return false;
        }
        !(self == Calendar::Standard && year == 1582 && month == 10 && (5..15).contains(&day))
    }

    /// Day number of a date (a continuous count; only differences are meaningful).
    pub fn day_number(self, year: i64, month: u32, day: u32) -> i64 {
        let (m, d) = (i64::from(month.clamp(1, 12)), i64::from(day));
        match self {
            Calendar::Day360 => year * 360 + (m - 1) * 30 + (d - 1),
            Calendar::NoLeap => year * 365 + CUM_NOLEAP[(m - 1) as usize] + d - 1,
            Calendar::AllLeap => year * 366 + CUM_LEAP[(m - 1) as usize] + d - 1,
            Calendar::ProlepticGregorian => gregorian_jdn(year, m, d),
            Calendar::Julian => julian_jdn(year, m, d),
            Calendar::Standard => {
                if (year, m, d) >= (1582, 10, 15) {
                    gregorian_jdn(year, m, d)
                } else {
                    julian_jdn(year, m, d)
                }
            }
        }
    }

    /// The date of a day number (inverse of [`Calendar::day_number`]).
    pub fn date_of(self, n: i64) -> (i64, u32, u32) {
        match self {
            Calendar::Day360 => {
                let y = n.div_euclid(360);
                let r = n.rem_euclid(360);
                (y, (r / 30 + 1) as u32, (r % 30 + 1) as u32)
            }
            Calendar::NoLeap | Calendar::AllLeap => {
                let (len, cum) = if self == Calendar::NoLeap { (365, &CUM_NOLEAP) } else { (366, &CUM_LEAP) };
                let y = n.div_euclid(len);
                let r = n.rem_euclid(len);
                let m = cum.iter().rposition(|&c| c <= r).unwrap_or(0);
                (y, (m + 1) as u32, (r - cum[m] + 1) as u32)
            }
            Calendar::ProlepticGregorian => gregorian_from_jdn(n),
            Calendar::Julian => julian_from_jdn(n),
            Calendar::Standard => {
                if n >= 2_299_161 {
                    gregorian_from_jdn(n)
                } else {
                    julian_from_jdn(n)
                }
            }
        }
    }
}

impl fmt::Display for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn gregorian_jdn(y: i64, m: i64, d: i64) -> i64 {
    let a = (14 - m).div_euclid(12);
    let yy = y + 4800 - a;
    let mm = m + 12 * a - 3;
    d + (153 * mm + 2).div_euclid(5) + 365 * yy + yy.div_euclid(4) - yy.div_euclid(100) + yy.div_euclid(400) - 32045
}

fn julian_jdn(y: i64, m: i64, d: i64) -> i64 {
    let a = (14 - m).div_euclid(12);
    let yy = y + 4800 - a;
    let mm = m + 12 * a - 3;
    d + (153 * mm + 2).div_euclid(5) + 365 * yy + yy.div_euclid(4) - 32083
}

fn gregorian_from_jdn(j: i64) -> (i64, u32, u32) {
    let a = j + 32044;
    let b = (4 * a + 3).div_euclid(146_097);
    let c = a - (146_097 * b).div_euclid(4);
    let d = (4 * c + 3).div_euclid(1461);
    let e = c - (1461 * d).div_euclid(4);
    let m = (5 * e + 2).div_euclid(153);
    let day = e - (153 * m + 2).div_euclid(5) + 1;
    let month = m + 3 - 12 * m.div_euclid(10);
    let year = 100 * b + d - 4800 + m.div_euclid(10);
    (year, month as u32, day as u32)
}

fn julian_from_jdn(j: i64) -> (i64, u32, u32) {
    let c = j + 32082;
    let d = (4 * c + 3).div_euclid(1461);
    let e = c - (1461 * d).div_euclid(4);
    let m = (5 * e + 2).div_euclid(153);
    let day = e - (153 * m + 2).div_euclid(5) + 1;
    let month = m + 3 - 12 * m.div_euclid(10);
    let year = d - 4800 + m.div_euclid(10);
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for cal in [
            Calendar::Standard,
            Calendar::ProlepticGregorian,
            Calendar::Julian,
            Calendar::NoLeap,
            Calendar::AllLeap,
            Calendar::Day360,
        ] {
            let start = cal.day_number(1500, 1, 1);
            for n in start..start + 366 * 200 {
                let (y, m, d) = cal.date_of(n);
                assert!(cal.is_valid_date(y, m, d), "{cal} {y}-{m}-{d}");
                assert_eq!(cal.day_number(y, m, d), n, "{cal} {y}-{m}-{d}");
            }
        }
    }

    #[test]
    fn known_dates() {
        let s = Calendar::Standard;
        assert_eq!(s.day_number(1582, 10, 15) - s.day_number(1582, 10, 4), 1);
        assert_eq!(s.day_number(2000, 3, 1) - s.day_number(2000, 2, 28), 2);
        assert_eq!(Calendar::NoLeap.day_number(2000, 3, 1) - Calendar::NoLeap.day_number(2000, 2, 28), 1);
        assert_eq!(Calendar::Day360.day_number(2001, 1, 1) - Calendar::Day360.day_number(2000, 1, 1), 360);
        assert!(Calendar::Day360.is_valid_date(2015, 2, 30));
        assert!(!Calendar::Standard.is_valid_date(2015, 2, 30));
        assert!(!Calendar::Standard.is_valid_date(1582, 10, 10));
        assert!(Calendar::ProlepticGregorian.is_valid_date(1582, 10, 10));
        assert!(Calendar::Julian.is_leap(1900));
        assert!(!Calendar::ProlepticGregorian.is_leap(1900));
    }
}
