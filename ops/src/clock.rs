//! Timestamps written into outputs (`history`, provenance). They honour
//! `SOURCE_DATE_EPOCH` (the reproducible-builds convention), so that a deployment or a
//! test can make outputs byte-identical across runs and replicas.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch: `SOURCE_DATE_EPOCH` when set, else the wall clock.
pub fn output_secs() -> u64 {
    if let Some(s) = std::env::var_os("SOURCE_DATE_EPOCH").and_then(|v| v.to_str()?.trim().parse().ok()) {
        return s;
    }
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `YYYY-MM-DDTHH:MM:SSZ` of seconds since the epoch.
pub fn iso8601(secs: u64) -> String {
    let days = i64::try_from(secs / 86400).unwrap_or(0);
    let (y, m, d) = crate::cf::Calendar::ProlepticGregorian.date_of(2_440_588 + days);
    let rem = secs % 86400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The output timestamp as ISO 8601.
pub fn output_iso8601() -> String {
    iso8601(output_secs())
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_epoch_dates() {
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::iso8601(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
