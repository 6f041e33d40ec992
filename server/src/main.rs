//! The `cirrus` binary.

use cirrus_server::{config, jobs, processing, router, state, usage};

use clap::Parser;
use config::{Cli, Command, Config};
use std::future::IntoFuture;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// mimalloc for small allocations, glibc for large ones (see `alloc`).
#[global_allocator]
static ALLOCATOR: cirrus_server::alloc::SplitAlloc = cirrus_server::alloc::SplitAlloc;

fn init_logging(format: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,tower_http=info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// The data roots to serve: the configured ones, or the sample datasets (generated
/// under the state directory on first start).
fn data_roots(config: &Config) -> anyhow::Result<Vec<PathBuf>> {
    if !config.data.is_empty() {
        for d in config.data.iter().filter(|d| !cirrus_ops::object::is_object(d)) {
            anyhow::ensure!(d.is_dir(), "data root {} is not a directory", d.display());
        }
        return Ok(config
            .data
            .iter()
            .map(|d| {
                if cirrus_ops::object::is_object(d) {
                    PathBuf::from(d.to_string_lossy().trim_end_matches('/'))
                } else {
                    d.canonicalize().unwrap_or_else(|_| d.clone())
                }
            })
            .collect());
    }
    let samples = config.state.join("samples");
    let marker = samples.join(".complete");
    if !marker.exists() {
        tracing::info!(dir = %samples.display(), "no --data given: writing sample datasets");
        let tmp = config.state.join("samples.tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        cirrus_testdata::write_samples(&tmp)?;
        let _ = std::fs::remove_dir_all(&samples);
        std::fs::rename(&tmp, &samples)?;
        std::fs::write(&marker, env!("CARGO_PKG_VERSION"))?;
    }
    Ok(vec![samples])
}

async fn serve(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.state)
        .map_err(|e| anyhow::anyhow!("cannot create state directory {}: {e}", config.state.display()))?;
    let roots = data_roots(&config)?;
    tracing::info!(roots = ?roots, "serving");
    let listen = config.listen;
    let state = {
        let config = config.clone();
        Arc::new(tokio::task::spawn_blocking(move || state::AppState::new(config, roots)).await??)
    };
    state::spawn_indexer(state.clone());
    state.runner.start(processing::executor(state.clone()), !jobs::is_shared(&state.config.jobs));
    processing::spawn_cleanup(state.clone());
    cirrus_server::timeseries::spawn_auto(state.clone());
    usage::spawn_flush(state.clone());
    let router = router::app(state.clone());
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    // Small responses on kept-alive connections must not wait for Nagle's algorithm.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let stop = Arc::new(tokio::sync::Notify::new());
    let signal = {
        let (st, stop) = (state.clone(), stop.clone());
        async move {
            shutdown().await;
            st.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
            stop.notify_one();
        }
    };
    let app = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let mut server = tokio::spawn(axum::serve(listener, app).with_graceful_shutdown(signal).into_future());
    // The server may end first (no open connection to drain) or the stop signal may
    // come first; either way a stop hands running jobs back.
    let server_done = tokio::select! {
        r = &mut server => {
            r??;
            if !state.stopping.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(());
            }
            true
        }
        () = stop.notified() => false,
    };
    // Stopping: no new connections; running jobs get the grace period, then are handed
    // back; open streams get the grace period (plus a little) to finish.
    let grace = Duration::from_secs(state.config.shutdown_grace);
    let drain = async {
        if server_done {
            return Ok(());
        }
        tokio::time::timeout(grace + Duration::from_secs(5), &mut server).await.map(|_| ())
    };
    let (_, drained) = tokio::join!(state.runner.shutdown(grace), drain);
    if drained.is_err() {
        tracing::warn!(open = state.metrics.in_flight(), "responses still streaming after the grace period are cut");
    }
    let st = state.clone();
    let _ = tokio::task::spawn_blocking(move || st.usage.flush(st.runner.store.as_ref())).await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}

/// `[#####     ] 500/1000 files 50% 2900 files/s, 480 read, ETA 2 s`
fn progress_line(p: &cirrus_ops::catalog::ProgressReport) -> String {
    let pct = if p.files_total > 0 { 100.0 * p.files_done as f64 / p.files_total as f64 } else { 100.0 };
    let width = 30usize;
    let filled = ((pct / 100.0 * width as f64) as usize).min(width);
    let eta = p.eta_seconds.map_or_else(|| "-".to_string(), |s| format!("{s:.0} s"));
    let rate = if p.running { p.rate } else { p.files_total as f64 / p.last_pass_seconds.unwrap_or(1.0).max(1e-3) };
    format!(
        "[{}{}] {}/{} files {pct:.0}% {rate:.0} files/s, {} read, ETA {eta}",
        "#".repeat(filled),
        " ".repeat(width - filled),
        p.files_done,
        p.files_total,
        p.files_read
    )
}

/// `cirrus index`: one indexing pass into the state directory's catalog index, with a
/// progress line on stderr (redrawn on a terminal, every 10 s otherwise).
fn index(config: &Config) -> anyhow::Result<()> {
    use std::io::{IsTerminal, Write};
    use std::sync::atomic::{AtomicBool, Ordering};
    std::fs::create_dir_all(&config.state)
        .map_err(|e| anyhow::anyhow!("cannot create state directory {}: {e}", config.state.display()))?;
    let roots = data_roots(config)?;
    let path = config.state.join("catalog-index.sqlite");
    let store = cirrus_server::catalog_index::SqliteIndex::open(&path)
        .map_err(|e| anyhow::anyhow!("cannot open the catalog index {}: {e}", path.display()))?;
    let objects = Arc::new(state::object_stores(&roots, &config.s3)?);
    let cache = cirrus_ops::HeaderCache::new(Arc::new(store), config.catalog_cache_bytes).with_objects(objects);
    let started = std::time::Instant::now();
    let prev = cirrus_ops::Catalog::load(&roots, &cache);
    let done = AtomicBool::new(false);
    let tty = std::io::stderr().is_terminal();
    let cat = std::thread::scope(|s| {
        s.spawn(|| {
            let mut last = std::time::Instant::now();
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(200));
                if !tty && last.elapsed() < Duration::from_secs(10) {
                    continue;
                }
                last = std::time::Instant::now();
                let line = progress_line(&cache.progress.report());
                let mut err = std::io::stderr();
                let _ = if tty { write!(err, "\r{line}\x1b[K") } else { writeln!(err, "{line}") };
                let _ = err.flush();
            }
        });
        let cat = cirrus_ops::Catalog::scan(&roots, &cache, &prev, None, &mut |_| {});
        cache.progress.end();
        done.store(true, Ordering::SeqCst);
        cat
    });
    let line = progress_line(&cache.progress.report());
    if tty {
        eprintln!("\r{line}\x1b[K");
    } else {
        eprintln!("{line}");
    }
    let p = cache.progress.report();
    for (id, why) in &cat.unavailable {
        eprintln!("unavailable: {id}: {why}");
    }
    println!(
        "{} datasets, {} files ({} read, {} from the index), {} unavailable, in {:.1} s; index {}",
        cat.summaries.len(),
        p.files_total,
        p.files_read,
        p.files_total - p.files_read,
        cat.unavailable.len(),
        started.elapsed().as_secs_f64(),
        path.display()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    cirrus_server::alloc::configure();
    let cli = Cli::parse();
    match cli.command {
        Command::Samples { out } => {
            std::fs::create_dir_all(&out)?;
            for f in cirrus_testdata::write_samples(&out)? {
                println!("{}", f.display());
            }
            Ok(())
        }
        Command::Index(args) => {
            let config = Config::resolve(*args)?;
            if std::env::var_os("RUST_LOG").is_none() {
                std::env::set_var("RUST_LOG", "warn");
            }
            init_logging(&config.log_format);
            index(&config)
        }
        Command::Serve(args) => {
            let config = Config::resolve(*args)?;
            init_logging(&config.log_format);
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let result = runtime.block_on(serve(config));
            // Jobs still running at this point were handed back to the queue: do not
            // wait for their threads (dropping the runtime would wait for them).
            runtime.shutdown_timeout(Duration::from_secs(2));
            result
        }
    }
}
