//! Time axes (values, bounds and the dates behind them) of daily and monthly series.

use crate::calendar::{Calendar, Date};

/// One time step: its coordinate value, its cell bounds (both in days since the
/// axis reference) and the calendar facts the synthetic fields depend on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TimeStep {
    /// Coordinate value: the middle of the cell.
    pub value: f64,
    /// Cell bounds `[start, end)`.
    pub bounds: [f64; 2],
    /// Date of the first day of the cell.
    pub date: Date,
    /// Position of the cell middle within its year, in `[0, 1)`.
    pub year_fraction: f64,
}

impl TimeStep {
    /// Fractional year of the cell middle, e.g. 2015.5 in early July.
    pub fn decimal_year(&self) -> f64 {
        f64::from(self.date.year) + self.year_fraction
    }

    /// A stable integer identifying this step, used to seed the pseudo-noise so that a
    /// series split over several files has the same values as one written in one go.
    pub fn seed(&self) -> u64 {
        // Bounds are whole days for every axis built here.
        self.bounds[0].round() as i64 as u64
    }
}

/// A time coordinate: `days since <reference>` in a calendar.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TimeAxis {
    pub calendar: Calendar,
    pub reference: Date,
    pub steps: Vec<TimeStep>,
}

impl TimeAxis {
    /// `count` daily steps from `first`, each centred at noon.
    pub fn daily(calendar: Calendar, reference: Date, first: Date, count: usize) -> Self {
        let offset = calendar.days_between(reference, first);
        let steps = (0..count as i64)
            .map(|k| {
                let date = calendar.add_days(first, k);
                let start = (offset + k) as f64;
                let in_year = calendar.days_between(Date::new(date.year, 1, 1), date) as f64;
                TimeStep {
                    value: start + 0.5,
                    bounds: [start, start + 1.0],
                    date,
                    year_fraction: (in_year + 0.5) / f64::from(calendar.days_in_year(date.year)),
                }
            })
            .collect();
        Self { calendar, reference, steps }
    }

    /// `count` monthly steps from the first of `first`'s month, each centred in its month.
    pub fn monthly(calendar: Calendar, reference: Date, first: Date, count: usize) -> Self {
        let steps = (0..count)
            .map(|k| {
                let months = first.month as usize - 1 + k;
                let date = Date::new(first.year + (months / 12) as i32, (months % 12) as u32 + 1, 1);
                let start = calendar.days_between(reference, date) as f64;
                let length = f64::from(calendar.days_in_month(date.year, date.month));
                let in_year = calendar.days_between(Date::new(date.year, 1, 1), date) as f64;
                TimeStep {
                    value: start + length / 2.0,
                    bounds: [start, start + length],
                    date,
                    year_fraction: (in_year + length / 2.0) / f64::from(calendar.days_in_year(date.year)),
                }
            })
            .collect();
        Self { calendar, reference, steps }
    }

    /// The CF `units` attribute.
    pub fn units(&self) -> String {
        format!("days since {}", self.reference)
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Date of the first step, if any.
    pub fn first_date(&self) -> Option<Date> {
        self.steps.first().map(|s| s.date)
    }

    /// Date of the last step, if any.
    pub fn last_date(&self) -> Option<Date> {
        self.steps.last().map(|s| s.date)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_noleap_axis() {
        let axis = TimeAxis::daily(Calendar::Noleap, Date::new(1850, 1, 1), Date::new(2015, 1, 1), 365);
        assert_eq!(axis.steps[0].value, 60225.5);
        assert_eq!(axis.steps[0].bounds, [60225.0, 60226.0]);
        assert_eq!(axis.last_date(), Some(Date::new(2015, 12, 31)));
        assert_eq!(axis.units(), "days since 1850-01-01");
    }

    #[test]
    fn monthly_360_day_axis() {
        let axis = TimeAxis::monthly(Calendar::Day360, Date::new(1850, 1, 1), Date::new(2015, 1, 1), 60);
        assert_eq!(axis.steps[0].bounds, [59400.0, 59430.0]);
        assert_eq!(axis.steps[0].value, 59415.0);
        assert_eq!(axis.steps[13].date, Date::new(2016, 2, 1));
        assert_eq!(axis.last_date(), Some(Date::new(2019, 12, 1)));
    }
}
