//! Server configuration: command-line flags, each with a twin in the TOML config file.
//! Flags given on the command line win over the file; defaults need no file at all.

use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// cirrus: climate model data (CMIP6, CMIP5, CORDEX NetCDF) on the web, near storage,
/// over OPeNDAP (DAP2/DAP4), OGC WPS / OGC API - Processes, the Copernicus CDS API
/// and WMS.
#[derive(Parser, Debug)]
#[command(name = "cirrus", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The commands of the `cirrus` binary.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the datasets under the data roots over HTTP.
    Serve(Box<ServeArgs>),
    /// Build or bring up to date the catalog index of the data roots (in the state
    /// directory) without serving, with a progress bar; a server started afterwards on
    /// the same state directory serves the index at once. Takes the flags of `serve`.
    Index(Box<ServeArgs>),
    /// Write the sample datasets (the ones served when no --data is given) to a directory.
    Samples {
        /// Directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Flags of `cirrus serve`. Each has a twin key in the config file (shown in brackets).
#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// A data root to serve: every NetCDF file below it is cataloged; ESGF DRS
    /// directories (CMIP6, CMIP5, CORDEX) become one dataset per version, joined along
    /// time. A root may be on S3-compatible object storage: `s3://BUCKET/PREFIX` (see
    /// the --s3-* options). Repeat for several roots. Without any, sample datasets are
    /// generated under the state directory and served. [data = ["..."]]
    #[arg(long = "data", value_name = "DIR|s3://BUCKET/PREFIX")]
    pub data: Vec<PathBuf>,
    /// Address to listen on. [listen] (default 127.0.0.1:8080)
    #[arg(long, value_name = "ADDR", env = "CIRRUS_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for caches, the job store and results. [state]
    /// (default $CIRRUS_STATE, else ~/.local/state/cirrus)
    #[arg(long, value_name = "DIR", env = "CIRRUS_STATE")]
    pub state: Option<PathBuf>,
    /// TOML configuration file; its keys are the flag names with `_` for `-`.
    #[arg(long, value_name = "FILE", env = "CIRRUS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Public base URL used in links (e.g. https://data.example.org); by default links
    /// are built from the request's Host header. [public_url]
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Largest response (bytes) one request may produce; larger requests get a 413 with
    /// the size and the limit before any data is sent. [max_response_bytes]
    /// (default 20000000000)
    #[arg(long, value_name = "BYTES")]
    pub max_response_bytes: Option<u64>,
    /// Seconds between checks of the data roots for new or changed files (0 = never;
    /// POST /admin/rescan always works). [rescan_interval] (default 60)
    #[arg(long, value_name = "SECS")]
    pub rescan_interval: Option<u64>,
    /// Origins allowed by CORS, comma-separated, `*` for any. [cors_origins] (default *)
    #[arg(long, value_name = "ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Disk space (bytes) for generated files kept under the state directory for reuse
    /// (NetCDF subsets; resumed downloads). [cache_bytes] (default 10000000000)
    #[arg(long, value_name = "BYTES")]
    pub cache_bytes: Option<u64>,
    /// Log format: `text` or `json`. [log_format] (default text; level via RUST_LOG)
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Memory (bytes) for decoded data chunks shared by every request. [chunk_cache_bytes]
    /// (default 268435456)
    #[arg(long, value_name = "BYTES")]
    pub chunk_cache_bytes: Option<u64>,
    /// Memory (bytes) for full dataset descriptions loaded from the catalog index (the
    /// summaries listings need are always in memory). [catalog_cache_bytes]
    /// (default 67108864)
    #[arg(long, value_name = "BYTES")]
    pub catalog_cache_bytes: Option<u64>,
    /// Where the catalog index lives: `sqlite` (catalog-index.sqlite in the state
    /// directory) or a `postgres://` URL shared by replicas (one indexes, the others
    /// follow). [catalog_index] (default: the job store's PostgreSQL when --jobs is one,
    /// else sqlite)
    #[arg(long, value_name = "URL")]
    pub catalog_index: Option<String>,
    /// Processing jobs run at the same time. [workers] (default 2)
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Jobs waiting or running at most; more are refused with 429. [queue_limit] (default 100)
    #[arg(long, value_name = "N")]
    pub queue_limit: Option<usize>,
    /// Seconds results are kept after a job ends. [results_ttl] (default 604800, a week)
    #[arg(long, value_name = "SECS")]
    pub results_ttl: Option<u64>,
    /// Output files larger than this (bytes) are split along time. [file_limit] (default 2000000000)
    #[arg(long, value_name = "BYTES")]
    pub file_limit: Option<u64>,
    /// Seconds a synchronous execution may take before the client is told to use
    /// asynchronous mode. [sync_timeout] (default 300)
    #[arg(long, value_name = "SECS")]
    pub sync_timeout: Option<u64>,
    /// Organisation named as provider in provenance and capabilities. [provider] (default cirrus)
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,
    /// Job store: `postgres://user:password@host/db` for a queue shared by several
    /// replicas, or a SQLite file path. [jobs] (default STATE/jobs.db)
    #[arg(long, value_name = "URL", env = "CIRRUS_JOBS")]
    pub jobs: Option<String>,
    /// Directory of job results; replicas sharing a PostgreSQL job store must share it
    /// (NFS, CephFS, Lustre ...). [results_dir] (default STATE/results)
    #[arg(long, value_name = "DIR")]
    pub results_dir: Option<PathBuf>,
    /// Seconds a running job's lease lasts without a heartbeat before another worker
    /// (or replica) re-runs it. [job_lease] (default 30)
    #[arg(long, value_name = "SECS")]
    pub job_lease: Option<u64>,
    /// Require an API key (HTTP basic auth with the key as password, `PRIVATE-TOKEN` or
    /// `Authorization: Bearer`) on every endpoint but /health, /ready, /metrics and
    /// result downloads. [auth_required] (default false: keys are only needed by the CDS
    /// API and for restricted data)
    #[arg(long)]
    pub auth_required: bool,
    /// Make a data root readable only by some users: `ROOT=user1,user2`. Repeatable.
    /// [[restrict]] root = "...", users = ["..."]
    #[arg(long = "restrict", value_name = "ROOT=USERS")]
    pub restrict: Vec<String>,
    /// Users (API key owners) allowed to use /admin/... when keys are configured,
    /// comma-separated. [admin_users]
    #[arg(long, value_name = "USERS", value_delimiter = ',')]
    pub admin_users: Vec<String>,
    /// Requests per second allowed per client (API key user, else address); more get
    /// 429 with Retry-After. 0 = no limit. [rate_limit] (default 0)
    #[arg(long, value_name = "N")]
    pub rate_limit: Option<f64>,
    /// Requests a client may send at once above its rate. [rate_burst] (default 2 × rate, at least 10)
    #[arg(long, value_name = "N")]
    pub rate_burst: Option<f64>,
    /// Take the client address from X-Forwarded-For (behind a trusted load balancer).
    /// [trust_forwarded] (default false)
    #[arg(long)]
    pub trust_forwarded: bool,
    /// Seconds a request may take to start its response; slower ones get 503.
    /// [request_timeout] (default 600)
    #[arg(long, value_name = "SECS")]
    pub request_timeout: Option<u64>,
    /// Largest volume of input data (bytes, uncompressed) one processing job may read;
    /// larger requests are refused with 413. [max_job_input_bytes] (default 200000000000)
    #[arg(long, value_name = "BYTES")]
    pub max_job_input_bytes: Option<u64>,
    /// Seconds running jobs get to finish when the server stops (SIGTERM) before they
    /// are handed back to the queue. [shutdown_grace] (default 30)
    #[arg(long, value_name = "SECS")]
    pub shutdown_grace: Option<u64>,
    /// File of CDS API keys, `user:key` per line (or comma separated), re-read when it
    /// changes. Keys also come from $CIRRUS_API_KEYS (`user1:key1,user2:key2`) and the
    /// config file (`api_keys = "FILE"`, or an `[api_keys]` table of user = "key", re-read
    /// when the file changes). [api_keys]
    #[arg(long = "api-keys", value_name = "FILE")]
    pub api_keys: Option<PathBuf>,
    /// CDS API jobs one user may have waiting or running; more are refused with 429.
    /// [max_jobs_per_user] (default 5)
    #[arg(long, value_name = "N")]
    pub max_jobs_per_user: Option<usize>,
    /// Named places for the EDR `locations` query: a GeoJSON FeatureCollection whose
    /// features have an `id` (or a `name` property) and a Point, LineString or
    /// (Multi)Polygon geometry; re-read when used. [edr_locations]
    #[arg(long, value_name = "FILE")]
    pub edr_locations: Option<PathBuf>,
    /// Disk space (bytes) for time-chunked copies of datasets (STATE/timeseries), which
    /// answer point and series reads fast; the least recently used are removed beyond
    /// it. [timeseries_bytes] (default 10000000000)
    #[arg(long, value_name = "BYTES")]
    pub timeseries_bytes: Option<u64>,
    /// Build a variable's time-chunked copy by itself after this many series reads (many
    /// steps at a few cells) of it; 0 = only on POST /admin/timeseries/<id>.
    /// [timeseries_after] (default 0)
    #[arg(long, value_name = "N")]
    pub timeseries_after: Option<u32>,
    /// Endpoint URL of the object storage holding `s3://bucket/prefix` data roots (e.g.
    /// a Ceph RGW); default AWS_ENDPOINT_URL, else AWS. Credentials come from
    /// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws/credentials or the config file.
    /// [s3.endpoint]
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Region of the object storage (default AWS_REGION, else us-east-1). [s3.region]
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,
    /// Address buckets virtual-hosted style (bucket.endpoint) instead of path style
    /// (endpoint/bucket, what Ceph RGW and most S3-compatible servers need).
    /// [s3.path_style = false]
    #[arg(long)]
    pub s3_virtual_hosted: bool,
    /// Time limit (seconds) of one object-storage request. [s3.timeout] (default 30)
    #[arg(long, value_name = "SECONDS")]
    pub s3_timeout: Option<u64>,
    /// Retries of a failed object-storage request, with exponential backoff.
    /// [s3.retries] (default 3)
    #[arg(long, value_name = "N")]
    pub s3_retries: Option<usize>,
}

/// The `[s3]` table of the config file: how `s3://` data roots are reached.
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct S3FileConfig {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub path_style: Option<bool>,
    pub allow_http: Option<bool>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub profile: Option<String>,
    pub credentials_file: Option<PathBuf>,
    pub timeout: Option<u64>,
    pub retries: Option<usize>,
}

impl std::fmt::Debug for S3FileConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3FileConfig").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

/// `api_keys` in the config file: a key file, or a table of user = "key".
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub enum ApiKeysConfig {
    File(PathBuf),
    Table(std::collections::BTreeMap<String, String>),
}

/// The config file (all keys optional).
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data: Option<Vec<PathBuf>>,
    pub listen: Option<SocketAddr>,
    pub state: Option<PathBuf>,
    pub public_url: Option<String>,
    pub max_response_bytes: Option<u64>,
    pub rescan_interval: Option<u64>,
    pub cors_origins: Option<Vec<String>>,
    pub cache_bytes: Option<u64>,
    pub log_format: Option<String>,
    pub chunk_cache_bytes: Option<u64>,
    pub catalog_cache_bytes: Option<u64>,
    pub catalog_index: Option<String>,
    pub workers: Option<usize>,
    pub queue_limit: Option<usize>,
    pub results_ttl: Option<u64>,
    pub file_limit: Option<u64>,
    pub sync_timeout: Option<u64>,
    pub provider: Option<String>,
    pub jobs: Option<String>,
    pub results_dir: Option<PathBuf>,
    pub job_lease: Option<u64>,
    pub auth_required: Option<bool>,
    pub restrict: Option<Vec<crate::access::Restriction>>,
    pub admin_users: Option<Vec<String>>,
    pub rate_limit: Option<f64>,
    pub rate_burst: Option<f64>,
    pub trust_forwarded: Option<bool>,
    pub request_timeout: Option<u64>,
    pub max_job_input_bytes: Option<u64>,
    pub shutdown_grace: Option<u64>,
    pub api_keys: Option<ApiKeysConfig>,
    pub max_jobs_per_user: Option<usize>,
    pub edr_locations: Option<PathBuf>,
    pub timeseries_bytes: Option<u64>,
    pub timeseries_after: Option<u32>,
    pub s3: Option<S3FileConfig>,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data: Vec<PathBuf>,
    pub listen: SocketAddr,
    pub state: PathBuf,
    pub public_url: Option<String>,
    pub max_response_bytes: u64,
    pub rescan_interval: u64,
    pub cors_origins: Vec<String>,
    pub cache_bytes: u64,
    pub log_format: String,
    pub chunk_cache_bytes: u64,
    pub catalog_cache_bytes: u64,
    /// `sqlite` or a `postgres://` URL.
    pub catalog_index: String,
    pub workers: usize,
    pub queue_limit: usize,
    pub results_ttl: u64,
    pub file_limit: u64,
    pub sync_timeout: u64,
    pub provider: String,
    /// The job store: a `postgres://` URL or a SQLite path.
    pub jobs: String,
    pub results_dir: PathBuf,
    pub job_lease: u64,
    pub auth_required: bool,
    pub restrict: Vec<crate::access::Restriction>,
    pub admin_users: Vec<String>,
    pub rate_limit: f64,
    pub rate_burst: f64,
    pub trust_forwarded: bool,
    pub request_timeout: u64,
    pub max_job_input_bytes: u64,
    pub shutdown_grace: u64,
    /// The config file given (re-read for its `[api_keys]` table).
    pub config_file: Option<PathBuf>,
    /// The CDS API key file (`--api-keys`, or `api_keys = "FILE"`).
    pub api_keys_file: Option<PathBuf>,
    pub max_jobs_per_user: usize,
    pub edr_locations: Option<PathBuf>,
    pub timeseries_bytes: u64,
    pub timeseries_after: u32,
    /// How `s3://` data roots are reached (its Debug form hides the secret).
    pub s3: cirrus_ops::object::S3Options,
}

impl Config {
    /// Merge command-line flags over the config file over the defaults.
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Config> {
        let file: FileConfig = match &args.config {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", p.display()))?;
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", p.display()))?
            }
            None => FileConfig::default(),
        };
        let default_state = std::env::var_os("HOME")
            .map_or_else(|| PathBuf::from(".cirrus-state"), |h| PathBuf::from(h).join(".local/state/cirrus"));
        let state = args.state.or(file.state).unwrap_or(default_state);
        let rate = args.rate_limit.or(file.rate_limit).unwrap_or(0.0);
        let jobs = args.jobs.or(file.jobs).unwrap_or_else(|| state.join("jobs.db").to_string_lossy().into_owned());
        let catalog_index = args.catalog_index.or(file.catalog_index).unwrap_or_else(|| {
            if crate::pg::is_url(&jobs) {
                jobs.clone()
            } else {
                "sqlite".into()
            }
        });
        anyhow::ensure!(
            catalog_index == "sqlite" || crate::pg::is_url(&catalog_index),
            "--catalog-index must be 'sqlite' or a postgres:// URL, not '{catalog_index}'"
        );
        Ok(Config {
            data: if args.data.is_empty() { file.data.unwrap_or_default() } else { args.data },
            listen: args.listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            jobs,
            catalog_index,
            results_dir: args.results_dir.or(file.results_dir).unwrap_or_else(|| state.join("results")),
            job_lease: args.job_lease.or(file.job_lease).unwrap_or(30).max(2),
            auth_required: args.auth_required || file.auth_required.unwrap_or(false),
            restrict: {
                let mut r = file.restrict.unwrap_or_default();
                for s in &args.restrict {
                    r.push(crate::access::Restriction::parse(s).map_err(|e| anyhow::anyhow!("--restrict: {e}"))?);
                }
                r
            },
            admin_users: if args.admin_users.is_empty() {
                file.admin_users.unwrap_or_default()
            } else {
                args.admin_users
            },
            rate_limit: rate.max(0.0),
            rate_burst: args.rate_burst.or(file.rate_burst).unwrap_or((rate * 2.0).max(10.0)),
            trust_forwarded: args.trust_forwarded || file.trust_forwarded.unwrap_or(false),
            request_timeout: args.request_timeout.or(file.request_timeout).unwrap_or(600).max(1),
            max_job_input_bytes: args.max_job_input_bytes.or(file.max_job_input_bytes).unwrap_or(200_000_000_000),
            shutdown_grace: args.shutdown_grace.or(file.shutdown_grace).unwrap_or(30),
            state,
            public_url: args.public_url.or(file.public_url).map(|u| u.trim_end_matches('/').to_string()),
            max_response_bytes: args.max_response_bytes.or(file.max_response_bytes).unwrap_or(20_000_000_000),
            rescan_interval: args.rescan_interval.or(file.rescan_interval).unwrap_or(60),
            cors_origins: if args.cors_origins.is_empty() {
                file.cors_origins.unwrap_or_else(|| vec!["*".into()])
            } else {
                args.cors_origins
            },
            cache_bytes: args.cache_bytes.or(file.cache_bytes).unwrap_or(10_000_000_000),
            log_format: args.log_format.or(file.log_format).unwrap_or_else(|| "text".into()),
            chunk_cache_bytes: args.chunk_cache_bytes.or(file.chunk_cache_bytes).unwrap_or(256 << 20),
            catalog_cache_bytes: args
                .catalog_cache_bytes
                .or(file.catalog_cache_bytes)
                .unwrap_or(cirrus_ops::catalog::store::DETAILS_BYTES),
            workers: args.workers.or(file.workers).unwrap_or(2).max(1),
            queue_limit: args.queue_limit.or(file.queue_limit).unwrap_or(100).max(1),
            results_ttl: args.results_ttl.or(file.results_ttl).unwrap_or(7 * 86400),
            file_limit: args.file_limit.or(file.file_limit).unwrap_or(2_000_000_000),
            sync_timeout: args.sync_timeout.or(file.sync_timeout).unwrap_or(300),
            provider: args.provider.or(file.provider).unwrap_or_else(|| "cirrus".into()),
            api_keys_file: args.api_keys.or(match file.api_keys {
                Some(ApiKeysConfig::File(p)) => Some(p),
                _ => None,
            }),
            config_file: args.config,
            max_jobs_per_user: args.max_jobs_per_user.or(file.max_jobs_per_user).unwrap_or(5).max(1),
            edr_locations: args.edr_locations.or(file.edr_locations),
            timeseries_bytes: args.timeseries_bytes.or(file.timeseries_bytes).unwrap_or(10_000_000_000),
            timeseries_after: args.timeseries_after.or(file.timeseries_after).unwrap_or(0),
            s3: {
                let f = file.s3.unwrap_or_default();
                let d = cirrus_ops::object::S3Options::default();
                cirrus_ops::object::S3Options {
                    endpoint: args.s3_endpoint.or(f.endpoint),
                    region: args.s3_region.or(f.region),
                    path_style: !args.s3_virtual_hosted && f.path_style.unwrap_or(true),
                    allow_http: f.allow_http,
                    access_key_id: f.access_key_id,
                    secret_access_key: f.secret_access_key,
                    credentials_file: f.credentials_file,
                    profile: f.profile,
                    timeout: args.s3_timeout.or(f.timeout).map_or(d.timeout, |t| Duration::from_secs(t.max(1))),
                    retries: args.s3_retries.or(f.retries).unwrap_or(d.retries),
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn resolve(args: &[&str], toml: &str) -> Config {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("cirrus.toml");
        std::fs::write(&file, toml).expect("write");
        let mut argv = vec!["cirrus", "serve", "--config", file.to_str().expect("utf-8")];
        argv.extend_from_slice(args);
        let Command::Serve(a) = Cli::parse_from(argv).command else { panic!("serve") };
        Config::resolve(*a).expect("resolve")
    }

    #[test]
    fn s3_table_and_flags() {
        let toml =
            "data = [\"s3://cmip6/CMIP6\"]\n[s3]\nendpoint = \"https://rgw.example.org\"\nregion = \"default\"\n\
                    secret_access_key = \"TOPSECRET\"\naccess_key_id = \"AK\"\ntimeout = 7\nretries = 1\n";
        let c = resolve(&[], toml);
        assert_eq!(c.data, [PathBuf::from("s3://cmip6/CMIP6")]);
        assert_eq!(c.s3.endpoint.as_deref(), Some("https://rgw.example.org"));
        assert_eq!(c.s3.region.as_deref(), Some("default"));
        assert!(c.s3.path_style);
        assert_eq!(c.s3.timeout, Duration::from_secs(7));
        assert_eq!(c.s3.retries, 1);
        // the secret never shows in the configuration's debug form (what start-up logs)
        assert!(!format!("{c:?}").contains("TOPSECRET"));
        let c = resolve(&["--s3-endpoint", "http://127.0.0.1:9000", "--s3-virtual-hosted", "--s3-retries", "5"], toml);
        assert_eq!(c.s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(!c.s3.path_style);
        assert_eq!(c.s3.retries, 5);
        assert!(toml::from_str::<FileConfig>("[s3]\nendpointt = \"x\"").is_err());
    }
}
