//! The engine: everything that reads, caches and computes data, built once from the
//! configuration and handed to every request and job. No process-wide state: two
//! engines in one process (as the tests build) share nothing.

use crate::catalog::HeaderCache;
use crate::model::Dataset;
use crate::process::provenance::Checksums;
use crate::process::select::{pressure_levels, PressureLevels};
use crate::read::{Mode, Reader};
use crate::regrid::Regridder;
use crate::render::Renderer;
use crate::timeseries::Copies;
use std::path::PathBuf;
use std::sync::Arc;

/// What an engine is built from.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Bytes of decoded chunks kept in memory.
    pub chunk_cache_bytes: u64,
    /// Where regridding weights are kept between starts (None: memory only).
    pub weights_dir: Option<PathBuf>,
    /// Bytes of regridding weights kept in memory.
    pub weights_memory: u64,
    pub read_mode: Mode,
    /// Where time-chunked copies are kept (None: no copies).
    pub timeseries_dir: Option<PathBuf>,
    /// Bytes of time-chunked copies kept at most.
    pub timeseries_bytes: u64,
    /// Series reads of a variable after which a copy is wanted (0: only when asked).
    pub timeseries_after: u32,
    /// Clients of the data roots on object storage.
    pub objects: Arc<crate::object::ObjectStores>,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            chunk_cache_bytes: 1 << 30,
            weights_dir: None,
            weights_memory: crate::regrid::DEFAULT_WEIGHTS_MEMORY,
            read_mode: Mode::Fast,
            timeseries_dir: None,
            timeseries_bytes: 10_000_000_000,
            timeseries_after: 0,
            objects: Arc::default(),
        }
    }
}

/// The data engine's state.
pub struct Engine {
    /// Reads variables (direct NetCDF-3/HDF5 paths, libnetcdf otherwise) through the
    /// chunk cache.
    pub reader: Arc<Reader>,
    /// File headers by path, size and mtime (catalog scans).
    pub headers: HeaderCache,
    /// Regridding weights and where they are kept.
    pub regrid: Regridder,
    /// Map layers, grids and pixel maps (WMS, tiles).
    pub renderer: Renderer,
    /// Input file checksums for provenance records.
    pub checksums: Checksums,
    /// Time-chunked copies for series reads (the reader uses them).
    pub series: Arc<Copies>,
    /// Pressure levels by dataset version.
    levels: moka::sync::Cache<String, Option<Arc<PressureLevels>>>,
}

impl Engine {
    pub fn new(config: &EngineConfig) -> Engine {
        let series =
            Arc::new(Copies::new(config.timeseries_dir.clone(), config.timeseries_bytes, config.timeseries_after));
        Engine {
            reader: Arc::new(
                Reader::new(config.chunk_cache_bytes, config.read_mode)
                    .with_copies(series.clone())
                    .with_objects(config.objects.clone()),
            ),
            series,
            headers: HeaderCache::default().with_objects(config.objects.clone()),
            regrid: Regridder::new(config.weights_dir.clone(), config.weights_memory),
            renderer: Renderer::default(),
            checksums: Checksums::default(),
            levels: moka::sync::Cache::new(100_000),
        }
    }

    /// The pressure levels of a dataset (see [`pressure_levels`]), cached by version.
    pub fn pressure_levels(&self, ds: &Dataset) -> Option<PressureLevels> {
        let key = format!("{}@{}", ds.id, ds.etag);
        self.levels.get_with(key, || pressure_levels(&self.reader, ds).map(Arc::new)).map(|l| PressureLevels::clone(&l))
    }
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new(&EngineConfig::default())
    }
}
