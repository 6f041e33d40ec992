//! Process inputs as every protocol passes them to `ops`: the first line is the process
//! (`subset`, `average`, `regrid`, ...), each further line `key=value` (a repeated key
//! is a list). They go through `cirrus_ops::process::run::validate` and, when valid,
//! `input_bytes` (the selection over the fixture catalog, with calendars and
//! coordinates); every value is also parsed as each vocabulary item
//! (`process::params`: time, time_components, area, level, dims, freq; the climate
//! indices' `slice_mode`) and every time point is turned into the first and last
//! instant in each calendar.

#![no_main]

use cirrus_ops::cf::{Calendar, DateTime, TimeUnits};
use cirrus_ops::process::params::{Area, AvgDim, Freq, LevelParam, TimeComponents, TimeParam, TimePoint};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

const CALENDARS: [&str; 7] =
    ["standard", "proleptic_gregorian", "julian", "noleap", "all_leap", "360_day", "gregorian"];

fn instants(p: &TimePoint) {
    for name in CALENDARS {
        let Some(cal) = Calendar::parse(name) else { continue };
        for dt in [p.start(cal), p.end(cal)].into_iter().flatten() {
            if let Ok(units) = TimeUnits::parse("days since 1850-01-01", cal) {
                if let Ok(v) = units.encode(&dt) {
                    let _ = units.decode(v);
                }
            }
        }
    }
}

fn vocabulary(value: &str) {
    match TimeParam::parse(value) {
        Ok(Some(TimeParam::Range { start, end })) => start.iter().chain(end.iter()).for_each(instants),
        Ok(Some(TimeParam::Instants(v))) => v.iter().for_each(instants),
        _ => {}
    }
    if let Ok(Some(tc)) = TimeComponents::parse(value) {
        let _ = tc.matches(&DateTime::date(2015, 1, 16));
    }
    let _ = (Area::parse(value), LevelParam::parse(value), AvgDim::parse(value), Freq::parse(value));
    let _ = cirrus_ops::process::indices::SliceMode::parse(value);
    if let Ok(dt) = DateTime::parse(value) {
        let _ = dt.to_string();
    }
}

fuzz_target!(init: cirrus_fuzz::init(), |data: &[u8]| {
    let Some(text) = cirrus_fuzz::text(data) else { return };
    let mut lines = text.lines();
    let process = lines.next().unwrap_or_default().trim();
    let mut inputs = Map::new();
    for line in lines {
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        vocabulary(v);
        let v = Value::String(v.to_string());
        match inputs.get_mut(k) {
            Some(Value::Array(a)) => a.push(v),
            Some(old) => *old = Value::Array(vec![old.take(), v]),
            None => {
                inputs.insert(k.to_string(), v);
            }
        }
    }
    cirrus_fuzz::ops::check(process, &inputs);
});
