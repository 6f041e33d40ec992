//! Server configuration: command-line flags, each with a twin in the TOML config file.
//! Flags given on the command line win over the file; defaults need no file at all.

use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// time. Repeat for several roots. Without any, sample datasets are generated under
    /// the state directory and served. [data = ["..."]]
    #[arg(long = "data", value_name = "DIR")]
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
    pub workers: Option<usize>,
    pub queue_limit: Option<usize>,
    pub results_ttl: Option<u64>,
    pub file_limit: Option<u64>,
    pub sync_timeout: Option<u64>,
    pub provider: Option<String>,
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
    pub workers: usize,
    pub queue_limit: usize,
    pub results_ttl: u64,
    pub file_limit: u64,
    pub sync_timeout: u64,
    pub provider: String,
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
        Ok(Config {
            data: if args.data.is_empty() { file.data.unwrap_or_default() } else { args.data },
            listen: args.listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            state: args.state.or(file.state).unwrap_or(default_state),
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
            workers: args.workers.or(file.workers).unwrap_or(2).max(1),
            queue_limit: args.queue_limit.or(file.queue_limit).unwrap_or(100).max(1),
            results_ttl: args.results_ttl.or(file.results_ttl).unwrap_or(7 * 86400),
            file_limit: args.file_limit.or(file.file_limit).unwrap_or(2_000_000_000),
            sync_timeout: args.sync_timeout.or(file.sync_timeout).unwrap_or(300),
            provider: args.provider.or(file.provider).unwrap_or_else(|| "cirrus".into()),
        })
    }
}
