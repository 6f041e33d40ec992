//! Prometheus metrics: counters and latency histograms recorded by the request
//! middleware (`observe.rs`), gauges read from the caches, the job store and the worker
//! pool when `/metrics` is scraped. The text exposition format is written by hand.

use crate::state::State;
use axum::extract::State as StateX;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (c, b) in self.counts.iter_mut().zip(BUCKETS) {
            if secs <= b {
                *c += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

#[derive(Default)]
struct Tables {
    /// (protocol, status) → requests
    requests: BTreeMap<(&'static str, u16), u64>,
    /// protocol → time to the response head
    latency: BTreeMap<&'static str, Histogram>,
    /// protocol → body bytes sent
    bytes: BTreeMap<&'static str, u64>,
    /// protocol → responses whose client went away before the end
    aborted: BTreeMap<&'static str, u64>,
}

/// Counters shared by every request.
pub struct Metrics {
    started: Instant,
    tables: Mutex<Tables>,
    in_flight: AtomicI64,
    /// Requests refused by the rate limit.
    pub rate_limited: AtomicU64,
    /// Requests that took longer than the request timeout.
    pub timeouts: AtomicU64,
    /// Requests refused for want of credentials or rights.
    pub denied: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            tables: Mutex::default(),
            in_flight: AtomicI64::new(0),
            rate_limited: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            denied: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Requests being answered or streamed.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// A request started.
    pub fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// The head of a response was produced after `latency`.
    pub fn head(&self, protocol: &'static str, status: u16, latency: Duration) {
        let mut t = self.tables.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *t.requests.entry((protocol, status)).or_default() += 1;
        t.latency.entry(protocol).or_default().observe(latency.as_secs_f64());
    }

    /// The body of a response ended (`complete`) or was dropped by the client.
    pub fn end(&self, protocol: &'static str, bytes: u64, complete: bool) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let mut t = self.tables.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *t.bytes.entry(protocol).or_default() += bytes;
        if !complete {
            *t.aborted.entry(protocol).or_default() += 1;
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

impl Metrics {
    fn render_requests(&self, out: &mut String) {
        let t = self.tables.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        family(out, "cirrus_requests_total", "counter", "HTTP requests by protocol and status.");
        for ((p, s), n) in &t.requests {
            let _ = writeln!(out, "cirrus_requests_total{{protocol=\"{p}\",status=\"{s}\"}} {n}");
        }
        family(out, "cirrus_request_duration_seconds", "histogram", "Time to the response head, by protocol.");
        for (p, h) in &t.latency {
            for (b, c) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(out, "cirrus_request_duration_seconds_bucket{{protocol=\"{p}\",le=\"{b}\"}} {c}");
            }
            let _ = writeln!(out, "cirrus_request_duration_seconds_bucket{{protocol=\"{p}\",le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "cirrus_request_duration_seconds_sum{{protocol=\"{p}\"}} {}", h.sum);
            let _ = writeln!(out, "cirrus_request_duration_seconds_count{{protocol=\"{p}\"}} {}", h.count);
        }
        family(out, "cirrus_response_bytes_total", "counter", "Response body bytes sent, by protocol.");
        for (p, n) in &t.bytes {
            let _ = writeln!(out, "cirrus_response_bytes_total{{protocol=\"{p}\"}} {n}");
        }
        family(out, "cirrus_responses_aborted_total", "counter", "Responses whose client left before the end.");
        for (p, n) in &t.aborted {
            let _ = writeln!(out, "cirrus_responses_aborted_total{{protocol=\"{p}\"}} {n}");
        }
        drop(t);
        for (name, help, v) in [
            ("cirrus_rate_limited_total", "Requests refused by the rate limit (429).", &self.rate_limited),
            ("cirrus_request_timeouts_total", "Requests stopped by the request timeout.", &self.timeouts),
            ("cirrus_denied_total", "Requests refused for missing or invalid credentials or rights.", &self.denied),
        ] {
            family(out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        }
        family(out, "cirrus_requests_in_flight", "gauge", "Requests being answered or streamed.");
        let _ = writeln!(out, "cirrus_requests_in_flight {}", self.in_flight.load(Ordering::Relaxed));
        family(out, "cirrus_uptime_seconds", "gauge", "Seconds since the server started.");
        let _ = writeln!(out, "cirrus_uptime_seconds {:.0}", self.started.elapsed().as_secs_f64());
    }
}

fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    family(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

fn counter(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    family(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}

/// The whole exposition text.
pub fn render(st: &crate::state::AppState) -> String {
    let mut out = String::with_capacity(8192);
    st.metrics.render_requests(&mut out);
    let c = st.engine.reader.stats();
    counter(&mut out, "cirrus_chunk_cache_hits_total", "Decoded-chunk cache hits.", c.hits);
    counter(&mut out, "cirrus_chunk_cache_misses_total", "Decoded-chunk cache misses.", c.misses);
    counter(&mut out, "cirrus_chunk_cache_evictions_total", "Decoded-chunk cache evictions.", c.evictions);
    gauge(&mut out, "cirrus_chunk_cache_bytes", "Bytes of decoded chunks cached.", c.bytes);
    gauge(&mut out, "cirrus_chunk_cache_capacity_bytes", "Capacity of the chunk cache.", st.config.chunk_cache_bytes);
    let series = &st.engine.series;
    gauge(&mut out, "cirrus_timeseries_copies", "Time-chunked copies kept.", series.list().len() as u64);
    gauge(&mut out, "cirrus_timeseries_copy_bytes", "Bytes of time-chunked copies kept.", series.bytes());
    counter(
        &mut out,
        "cirrus_timeseries_reads_total",
        "Series reads answered from time-chunked copies.",
        series.hits.load(Ordering::Relaxed),
    );
    let m = st.docs.stats();
    counter(&mut out, "cirrus_metadata_cache_hits_total", "Metadata document cache hits (DDS/DAS/DMR ...).", m.0);
    counter(&mut out, "cirrus_metadata_cache_misses_total", "Metadata document cache misses.", m.1);
    let m = st.maps.stats();
    counter(&mut out, "cirrus_map_cache_hits_total", "Drawn map and tile cache hits (WMS GetMap, /tiles).", m.0);
    counter(&mut out, "cirrus_map_cache_misses_total", "Drawn map and tile cache misses.", m.1);
    gauge(&mut out, "cirrus_response_cache_bytes", "Bytes of generated files kept for reuse.", st.responses.bytes());
    let cat = st.catalog_all();
    gauge(&mut out, "cirrus_datasets", "Datasets in the catalog.", cat.summaries.len());
    gauge(&mut out, "cirrus_datasets_unavailable", "Datasets whose files cannot be read.", cat.unavailable.len());
    gauge(&mut out, "cirrus_catalog_files", "Files of the datasets in the catalog.", cat.files());
    let p = st.engine.headers.progress.report();
    gauge(&mut out, "cirrus_index_running", "1 while an indexing pass runs.", u8::from(p.running));
    gauge(&mut out, "cirrus_index_files_total", "Files found by the current (or last) indexing pass.", p.files_total);
    gauge(&mut out, "cirrus_index_files_done", "Files done by the current (or last) indexing pass.", p.files_done);
    gauge(&mut out, "cirrus_index_files_per_second", "Rate of the running indexing pass.", p.rate);
    counter(&mut out, "cirrus_index_passes_total", "Indexing passes finished since start.", p.passes);
    counter(
        &mut out,
        "cirrus_index_files_read_total",
        "File headers read from disk since start (not taken from the index).",
        st.engine.headers.opened.load(std::sync::atomic::Ordering::Relaxed),
    );
    match st.runner.store.count_by_status() {
        Ok(counts) => {
            family(&mut out, "cirrus_jobs", "gauge", "Jobs in the job store by state.");
            for s in ["accepted", "running", "successful", "failed", "dismissed"] {
                let n = counts.get(s).copied().unwrap_or(0);
                let _ = writeln!(out, "cirrus_jobs{{state=\"{s}\"}} {n}");
            }
            gauge(
                &mut out,
                "cirrus_job_queue_depth",
                "Jobs waiting for a worker.",
                counts.get("accepted").unwrap_or(&0),
            );
            gauge(&mut out, "cirrus_job_store_up", "1 when the job store answers.", 1);
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the job store does not answer");
            gauge(&mut out, "cirrus_job_store_up", "1 when the job store answers.", 0);
        }
    }
    gauge(&mut out, "cirrus_workers", "Job workers of this replica.", st.runner.workers);
    gauge(&mut out, "cirrus_workers_busy", "Job workers of this replica running a job.", st.runner.busy());
    counter(&mut out, "cirrus_jobs_run_total", "Jobs run to an end by this replica.", st.runner.ran());
    out
}

/// `GET /metrics`.
pub async fn handler(StateX(st): StateX<State>) -> Response {
    let text = tokio::task::spawn_blocking(move || render(&st)).await.unwrap_or_default();
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}
