//! Smooth, plausible, deterministic synthetic fields.
//!
//! Each field is evaluated on a list of geographic points (the cells of any grid, in
//! row-major order) one time step at a time. The parts that do not depend on time are
//! computed once, so a step costs a handful of multiply-adds per cell.

use std::f64::consts::TAU;

use crate::time_axis::TimeStep;

/// A geographic point: (latitude, longitude) in degrees.
pub(crate) type LatLon = (f64, f64);

/// A time-varying field on a fixed set of points.
pub(crate) trait Field {
    /// Writes the field at `step` into `out` (one value per point).
    fn fill(&self, step: &TimeStep, out: &mut [f32]);
}

/// Deterministic pseudo-noise in `[-1, 1)` for a (seed, index) pair (splitmix64).
pub(crate) fn unit_noise(seed: u64, index: u64) -> f32 {
    let mut z = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(index).wrapping_add(0x632B_E59B_D9B4_E019);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    // The top 24 bits give an exactly representable f32 in [0, 1).
    (z >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
}

/// Near-surface air temperature (K): a meridional gradient, stationary waves, a
/// seasonal cycle of opposite sign in each hemisphere, eastward-travelling mid-latitude
/// waves, a warming trend and a little noise.
pub(crate) struct NearSurfaceTemperature {
    climate: Vec<f32>,
    season_amplitude: Vec<f32>,
    wave_sin: Vec<f32>,
    wave_cos: Vec<f32>,
}

/// Warming per year after 2015 (K).
const WARMING_PER_YEAR: f64 = 0.03;
/// Period of the travelling waves (days).
const WAVE_PERIOD_DAYS: f64 = 6.0;
/// Amplitude of the noise (K).
const TEMPERATURE_NOISE: f32 = 0.4;

impl NearSurfaceTemperature {
    /// Prepares the time-independent parts at `points`.
    pub fn new(points: &[LatLon]) -> Self {
        let n = points.len();
        let mut field = Self {
            climate: Vec::with_capacity(n),
            season_amplitude: Vec::with_capacity(n),
            wave_sin: Vec::with_capacity(n),
            wave_cos: Vec::with_capacity(n),
        };
        for &(lat, lon) in points {
            let (phi, lambda) = (lat.to_radians(), lon.to_radians());
            let climate = 288.0 - 40.0 * phi.sin().powi(2)
                + 3.0 * phi.cos() * (2.0 * lambda).sin()
                + 2.0 * (2.0 * phi).sin() * (3.0 * lambda).cos();
            let wave = 4.0 * (2.0 * phi).sin().powi(2);
            field.climate.push(climate as f32);
            field.season_amplitude.push((-15.0 * phi.sin()) as f32);
            field.wave_sin.push((wave * (5.0 * lambda).sin()) as f32);
            field.wave_cos.push((wave * (5.0 * lambda).cos()) as f32);
        }
        field
    }
}

impl Field for NearSurfaceTemperature {
    fn fill(&self, step: &TimeStep, out: &mut [f32]) {
        // Coldest in the northern hemisphere in mid January.
        let season = (TAU * (step.year_fraction - 15.5 / 365.0)).cos() as f32;
        let trend = (WARMING_PER_YEAR * (step.decimal_year() - 2015.0)) as f32;
        let phase = TAU * step.value / WAVE_PERIOD_DAYS;
        let (phase_sin, phase_cos) = (phase.sin() as f32, phase.cos() as f32);
        let seed = step.seed();
        for (p, value) in out.iter_mut().enumerate() {
            // amplitude * sin(5 lon - phase)
            let wave = self.wave_sin[p] * phase_cos - self.wave_cos[p] * phase_sin;
            *value = self.climate[p]
                + self.season_amplitude[p] * season
                + wave
                + trend
                + TEMPERATURE_NOISE * unit_noise(seed, p as u64);
        }
    }
}

/// Precipitation flux (kg m-2 s-1): a seasonally migrating tropical rain belt, the
/// mid-latitude storm tracks, dry subtropics, a zonal modulation and multiplicative
/// noise. Always positive.
pub(crate) struct Precipitation {
    latitude: Vec<f32>,
    zonal: Vec<f32>,
}

/// Typical precipitation flux (about 0.86 mm/day).
const PRECIPITATION_SCALE: f32 = 1.0e-5;

impl Precipitation {
    /// Prepares the time-independent parts at `points`.
    pub fn new(points: &[LatLon]) -> Self {
        let (latitude, zonal) = points
            .iter()
            .map(|&(lat, lon)| {
                let zonal = 1.0 + 0.3 * (3.0 * lon.to_radians()).sin() * lat.to_radians().cos();
                (lat as f32, zonal as f32)
            })
            .unzip();
        Self { latitude, zonal }
    }
}

impl Field for Precipitation {
    fn fill(&self, step: &TimeStep, out: &mut [f32]) {
        // The rain belt is furthest north in late boreal summer.
        let belt = (8.0 * (TAU * (step.year_fraction - 0.3)).sin()) as f32;
        let seed = step.seed();
        for (p, value) in out.iter_mut().enumerate() {
            let lat = self.latitude[p];
            let tropics = 2.5 * (-((lat - belt) / 10.0).powi(2)).exp();
            let storm_tracks = (-((lat.abs() - 50.0) / 12.0).powi(2)).exp();
            let noise = 1.0 + 0.5 * unit_noise(seed, p as u64);
            *value = PRECIPITATION_SCALE * (0.3 + tropics + storm_tracks) * self.zonal[p] * noise;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{Calendar, Date};
    use crate::time_axis::TimeAxis;

    #[test]
    fn noise_is_deterministic_and_bounded() {
        assert_eq!(unit_noise(7, 11), unit_noise(7, 11));
        assert_ne!(unit_noise(7, 11), unit_noise(8, 11));
        let mean: f32 = (0..10_000).map(|i| unit_noise(1, i)).sum::<f32>() / 10_000.0;
        assert!(mean.abs() < 0.05, "{mean}");
        assert!((0..10_000).all(|i| (-1.0..1.0).contains(&unit_noise(3, i))));
    }

    #[test]
    fn temperature_is_plausible() {
        let points = [(-88.75, 1.25), (0.0, 100.0), (60.0, 10.0)];
        let axis = TimeAxis::daily(Calendar::Noleap, Date::new(1850, 1, 1), Date::new(2015, 1, 1), 365);
        let field = NearSurfaceTemperature::new(&points);
        let mut out = [0.0; 3];
        field.fill(&axis.steps[15], &mut out);
        assert!(out.iter().all(|t| (200.0..320.0).contains(t)), "{out:?}");
        let january_north = out[2];
        field.fill(&axis.steps[196], &mut out);
        assert!(out[2] > january_north + 20.0, "seasonal cycle");
    }

    #[test]
    fn precipitation_is_positive() {
        let points: Vec<LatLon> = (0..72).map(|i| (-88.75 + 2.5 * f64::from(i), 10.0)).collect();
        let axis = TimeAxis::monthly(Calendar::Day360, Date::new(1850, 1, 1), Date::new(2015, 1, 1), 12);
        let field = Precipitation::new(&points);
        let mut out = vec![0.0; points.len()];
        for step in &axis.steps {
            field.fill(step, &mut out);
            assert!(out.iter().all(|&p| p > 0.0 && p < 1.0e-3));
        }
    }
}
