//! Fixtures shared by the fuzz targets, built once per fuzzing process: the data roots
//! (the synthetic sample files, written on first use, and the shared ESGF samples when
//! present), the application state over them, and helpers to turn fuzz bytes into text.

use cirrus_ops::Dataset;
use cirrus_server::access::Access;
use cirrus_server::config::{Config, ServeArgs};
use cirrus_server::state::AppState;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// Largest selection (bytes) a target reads and encodes; larger ones are only checked.
pub const READ_LIMIT: u64 = 32 << 10;

/// Where fixtures are kept between runs (`fuzz/target/fixtures`, or `$CIRRUS_FUZZ_WORK`).
fn work_dir() -> PathBuf {
    std::env::var_os("CIRRUS_FUZZ_WORK")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fixtures"), PathBuf::from)
}

/// The synthetic samples (`cirrus_testdata::write_samples`), written once.
fn samples() -> PathBuf {
    let dir = work_dir().join("samples");
    let done = dir.join(".complete");
    if !done.exists() {
        cirrus_testdata::write_samples(&dir).expect("cannot write the sample files");
        std::fs::write(&done, b"").expect("cannot mark the sample files complete");
    }
    dir
}

/// The shared ESGF samples (`$CIRRUS_SHARED_DATA/esgf`, default `../../shared/data/esgf`
/// from this crate), when they exist.
fn esgf() -> Option<PathBuf> {
    let base = std::env::var_os("CIRRUS_SHARED_DATA")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"), PathBuf::from);
    Some(base.join("esgf")).filter(|p| p.is_dir())
}

/// The server state over the fixture roots (job store and caches under the work
/// directory).
pub fn state() -> &'static Arc<AppState> {
    static STATE: OnceLock<Arc<AppState>> = OnceLock::new();
    STATE.get_or_init(|| {
        let roots: Vec<PathBuf> = std::iter::once(samples()).chain(esgf()).collect();
        let state = work_dir().join("state");
        std::fs::create_dir_all(&state).expect("state directory");
        let args = ServeArgs { data: roots.clone(), state: Some(state), ..ServeArgs::default() };
        let config = Config::resolve(args).expect("configuration");
        let st = AppState::new(config, roots).expect("application state");
        st.rescan();
        assert!(!st.catalog_all().summaries.is_empty(), "the fixture catalog is empty");
        Arc::new(st)
    })
}

/// Build the fixtures (before fuzzing starts, so that the first input is not charged
/// with writing the samples and scanning the catalog).
pub fn init() {
    let _ = datasets();
}

/// Every dataset of the catalog, in id order.
pub fn datasets() -> &'static [Arc<Dataset>] {
    static DATASETS: OnceLock<Vec<Arc<Dataset>>> = OnceLock::new();
    DATASETS.get_or_init(|| {
        let cat = state().catalog_all();
        let mut out: Vec<Arc<Dataset>> = cat.entries().map(|e| e.dataset).collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    })
}

/// The input as text, when it is UTF-8 (URL queries are ASCII and the handlers reject
/// request bodies that are not UTF-8 before parsing them).
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// What the WPS front-end does with a parsed request before a job is recorded.
pub mod wps {
    use cirrus_server::wps::{execute, v1, v2, Operation, Request};

    /// Describe the processes asked for; for an Execute, map and validate the inputs
    /// and size the data they select (as `processing::check` does).
    pub fn check(req: Request) {
        match req.op {
            Operation::DescribeProcess(ids) => {
                let found: Vec<_> = ids.iter().filter_map(|id| execute::process(req.version, id).ok()).collect();
                let _ = (v1::describe(&found), v2::describe(&found));
            }
            Operation::Execute(ex) => {
                let p = match execute::process(req.version, &ex.process) {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = e.to_xml();
                        return;
                    }
                };
                let inputs = match execute::inputs_map(p, &ex.inputs) {
                    Ok(m) => m,
                    Err(e) => {
                        let _ = e.to_xml();
                        return;
                    }
                };
                super::ops::check(&p.id, &inputs);
            }
            _ => {}
        }
    }
}

/// The anonymous caller's view.
pub fn anonymous() -> Access {
    Access::of(state(), None)
}

/// The processing checks every protocol shares.
pub mod ops {
    use serde_json::{Map, Value};

    /// Validate inputs against the process and the catalog; when valid, size the
    /// selection they make (reading coordinates), as `processing::check` does.
    pub fn check(process: &str, inputs: &Map<String, Value>) {
        let st = super::state();
        let catalog = st.catalog_all();
        if let Ok(request) = cirrus_ops::process::run::validate(process, inputs, &catalog) {
            let _ = request.input_bytes(&st.engine.reader, &catalog);
        }
    }
}

/// A runtime for the async handlers (one worker; their blocking work goes to its pool).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("tokio runtime")
    })
}
