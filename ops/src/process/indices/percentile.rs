//! Percentile thresholds of the percentile indices, as xclim computes them: the
//! day-of-year percentiles of a base period over a 5-day window (Hyndman & Fan type 8,
//! xclim's `percentile_doy`), the percentile of the base period's wet days (R95p), and
//! the bootstrap of the years the base period shares with the studied one (Zhang et
//! al. 2005, xclim's `percentile_bootstrap`). Pure functions of one cell's series;
//! missing values are NaN.

/// The value at virtual index `v` of sorted values (Hyndman & Fan's linear
/// interpolation between neighbours, numpy's exact-at-both-ends form), the first or
/// last value beyond them.
fn at_virtual_index(sorted: &[f64], v: f64) -> f64 {
    let n = sorted.len();
    #[allow(clippy::cast_precision_loss)]
    if v >= (n - 1) as f64 {
        return sorted[n - 1];
    }
    if v < 0.0 {
        return sorted[0];
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let i = v.floor() as usize;
    #[allow(clippy::cast_precision_loss)]
    let gamma = v - i as f64;
    let (a, b) = (sorted[i], sorted[i + 1]);
    if gamma >= 0.5 {
        b - (b - a) * (1.0 - gamma)
    } else {
        a + (b - a) * gamma
    }
}

/// The `q` quantile (0-1) of the values, type 8 (median-unbiased), NaN left out; NaN
/// when there is no value.
pub fn quantile8(values: &mut [f64], q: f64) -> f64 {
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    values.sort_unstable_by(f64::total_cmp);
    #[allow(clippy::cast_precision_loss)]
    at_virtual_index(values, n as f64 * q + (1.0 / 3.0 + q / 3.0) - 1.0)
}

/// The `q` quantile (0-1) of sorted values without NaN, type 7 (numpy's default);
/// NaN when there is no value.
pub fn quantile7(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[allow(clippy::cast_precision_loss)]
    at_virtual_index(sorted, q * (sorted.len() - 1) as f64)
}

/// Days of one series: their day of year (1-based) and the label year of the
/// bootstrap block they belong to.
#[derive(Clone, Debug)]
pub struct Days {
    pub doy: Vec<u16>,
    pub block: Vec<i64>,
    /// The calendar year of each day.
    pub year: Vec<i64>,
}

/// Linear interpolation at integer days `lo..=hi` of `th` (values at days 1..=n)
/// spread evenly over `lo..=hi` (xclim's `_interpolate_doy_calendar`), after filling
/// interior gaps linearly. Index `d` of the result is day `d` (index 0 unused).
fn stretch(th: &[f64], lo: usize, hi: usize) -> Vec<f64> {
    let n = th.len() - 1;
    let mut filled = th[1..].to_vec();
    // interior NaN: linear between the nearest values (ends stay NaN)
    let known: Vec<usize> = (0..n).filter(|&i| !filled[i].is_nan()).collect();
    for w in known.windows(2) {
        let (a, b) = (w[0], w[1]);
        for i in a + 1..b {
            #[allow(clippy::cast_precision_loss)]
            let f = (i - a) as f64 / (b - a) as f64;
            filled[i] = filled[a] + (filled[b] - filled[a]) * f;
        }
    }
    let mut out = vec![f64::NAN; hi + 1];
    if n == 0 {
        return out;
    }
    #[allow(clippy::cast_precision_loss)]
    let step = if n > 1 { (hi - lo) as f64 / (n - 1) as f64 } else { 0.0 };
    for (d, o) in out.iter_mut().enumerate().skip(lo) {
        #[allow(clippy::cast_precision_loss)]
        let pos = if step > 0.0 { (d - lo) as f64 / step } else { 0.0 };
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let i = (pos.floor() as usize).min(n - 1);
        #[allow(clippy::cast_precision_loss)]
        let f = pos - i as f64;
        *o = if i + 1 < n && f > 1e-12 { filled[i] + (filled[i + 1] - filled[i]) * f } else { filled[i] };
    }
    out
}

/// The `q` percentile of each day of the year over `window` days around it in the
/// base `values` (`doy` of each), indexed by day of year (index 0 unused). With day
/// 366 in the base, days 1-365 are spread over 1-366 as xclim does.
pub fn doy_thresholds(values: &[f64], doy: &[u16], q: f64, window: usize) -> Vec<f64> {
    let max_doy = usize::from(doy.iter().copied().max().unwrap_or(0));
    let min_doy = usize::from(doy.iter().copied().min().unwrap_or(1));
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); max_doy + 1];
    let half = window / 2;
    for (i, &d) in doy.iter().enumerate() {
        let lo = i.saturating_sub(half);
        let hi = (i + window - half).min(values.len());
        samples[usize::from(d)].extend(values[lo..hi].iter().filter(|x| !x.is_nan()));
    }
    let mut th: Vec<f64> = samples.iter_mut().map(|s| quantile8(s, q)).collect();
    if max_doy == 366 {
        th.truncate(366);
        th = stretch(&th, min_doy, 366);
    }
    th
}

/// The thresholds for days of the studied series: `th` as it is when it covers the
/// calendar's days of year (`year_days`: 360, 365 or 366), else spread over the days
/// of year `lo..=hi` of the studied days (xclim's `resample_doy`).
pub fn for_study(th: Vec<f64>, year_days: usize, lo: usize, hi: usize) -> Vec<f64> {
    if th.len() == year_days + 1 {
        th
    } else {
        stretch(&th, lo, hi)
    }
}

/// The base values with the block `bloc` (positions) replaced by the block `source`
/// as xclim's bootstrap does (Feb 29 dropped from a leap-year source replacing a
/// 365-day block, missing in a 365-day source replacing a leap year); `None` when
/// xclim leaves the base as it is (a short source block at the base's edges).
pub fn replaced(values: &[f64], bloc: &[usize], source: &[usize], month_day: &[(u32, u32)]) -> Option<Vec<f64>> {
    let feb29 = |i: usize| month_day[i] == (2, 29);
    let (nb, ns) = (bloc.len(), source.len());
    if ns < 360 && ns < nb {
        return None;
    }
    let src: Vec<f64> = if ns == nb {
        source.iter().map(|&i| values[i]).collect()
    } else if nb == 365 {
        source.iter().filter(|&&i| !feb29(i)).map(|&i| values[i]).take(nb).collect()
    } else if nb == 366 {
        // a 365-day year on a 366-day axis: its Feb 29 (before its Mar 1) is missing
        let mut v: Vec<f64> = source.iter().map(|&i| values[i]).collect();
        let at = source.iter().position(|&i| month_day[i] == (3, 1)).unwrap_or(v.len());
        v.insert(at, f64::NAN);
        v
    } else {
        source.iter().take(nb).map(|&i| values[i]).collect()
    };
    let mut out = values.to_vec();
    for (&i, x) in bloc.iter().zip(src) {
        out[i] = x;
    }
    Some(out)
}

/// Windowed run count: the days that are part of runs of at least `min` days.
pub fn run_days(hits: impl Iterator<Item = bool>, min: usize) -> usize {
    let (mut run, mut total) = (0usize, 0usize);
    for h in hits {
        if h {
            run += 1;
        } else {
            if run >= min {
                total += run;
            }
            run = 0;
        }
    }
    if run >= min {
        total += run;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type8_quantiles_match_numpy() {
        // numpy.quantile(x, q, method="median_unbiased")
        let x = [3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.0];
        let q = |q: f64| quantile8(&mut x.to_vec(), q);
        assert!((q(0.5) - 3.0).abs() < 1e-12);
        assert!((q(0.9) - 8.733_333_333_333_334).abs() < 1e-9, "{}", q(0.9));
        assert!((q(0.1) - 1.033_333_333_333_333_2).abs() < 1e-9, "{}", q(0.1));
        assert_eq!(q(0.99), 9.0);
        assert_eq!(q(0.001), 1.0);
        assert!(quantile8(&mut [], 0.5).is_nan());
    }

    #[test]
    fn doy_thresholds_use_the_window_around_each_day() {
        // two 3-day "years": day 2's window takes days 1-3 of each
        let v = [1.0, 2.0, 3.0, 10.0, 20.0, 30.0];
        let doy = [1, 2, 3, 1, 2, 3];
        let th = doy_thresholds(&v, &doy, 0.5, 3);
        // day 2: [1,2,3,10,20,30] -> median 6.5; day 1: [1,2, 3,10,20] (the day
        // before year 2's day 1 is year 1's day 3)
        assert!((th[2] - 6.5).abs() < 1e-12);
        assert!((th[1] - 3.0).abs() < 1e-12);
        assert_eq!(th.len(), 4);
    }

    #[test]
    fn stretch_spreads_365_days_over_366() {
        let th: Vec<f64> = (0..=365).map(f64::from).collect(); // day d -> d
        let s = stretch(&th, 1, 366);
        assert_eq!(s.len(), 367);
        assert!((s[1] - 1.0).abs() < 1e-12 && (s[366] - 365.0).abs() < 1e-9);
        assert!((s[183] - (1.0 + 182.0 * 364.0 / 365.0)).abs() < 1e-9);
    }

    #[test]
    fn bootstrap_replacement_and_runs() {
        let v: Vec<f64> = (0..10).map(f64::from).collect();
        let md = [(1, 1); 10];
        let out = replaced(&v, &[0, 1, 2], &[5, 6, 7], &md).expect("same length");
        assert_eq!(&out[..3], &[5.0, 6.0, 7.0]);
        assert!(replaced(&v, &[0, 1, 2], &[5, 6], &md).is_none());
        assert_eq!(run_days([true, true, false, true, true, true].into_iter(), 3), 3);
        assert_eq!(run_days([true; 7].into_iter(), 6), 7);
    }
}
