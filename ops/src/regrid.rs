//! Regridding and reprojection of horizontal fields.
//!
//! A variable's horizontal grid ([`SourceGrid`]: regular, rotated-pole or curvilinear,
//! with cell corners from the file's bounds or computed) is mapped onto a target
//! ([`LatLonGrid`], a regular latitude-longitude grid, or [`ProjectedGrid`], pixels of
//! a map projection) by a sparse matrix of [`Weights`]: nearest source cell, bilinear
//! interpolation between the four surrounding cell centres, or first-order
//! conservative (overlap areas on the sphere). Weights are computed once per
//! (source grid, target, method), kept in memory and on disk ([`WeightCache`]) and then
//! applied to every 2-D slice of the data, streaming over the other dimensions, in
//! parallel. Missing source values are handled with an adaptive masking threshold: a
//! target cell gets a value when the weight on valid source cells reaches the
//! threshold, renormalised over those cells.

pub mod bilinear;
pub mod cache;
pub mod conservative;
pub mod coverage;
pub mod field;
pub mod kdtree;
pub mod output;
pub mod source;
pub mod target;
pub mod weights;

pub use cache::WeightCache;
pub use field::{Decode, Plan};
pub use source::{SourceGrid, SourceKind};
pub use target::{GridSpec, LatLonGrid, ProjectedGrid, Target};
pub use weights::Weights;

use crate::model::Dataset;
use crate::{Error, Result};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock, RwLock};

/// A regridding method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// The value of the nearest source cell centre (`nearest_s2d`).
    Nearest,
    /// Bilinear interpolation between the four surrounding source cell centres.
    Bilinear,
    /// First-order conservative: the area-weighted mean of the overlapping source cells.
    Conservative,
}

impl Method {
    /// Parse a method name as rook and the coverage API give it.
    pub fn parse(s: &str) -> Result<Method> {
        match s.trim().to_ascii_lowercase().as_str() {
            "nearest_s2d" | "nearest" | "nn" | "near" => Ok(Method::Nearest),
            "bilinear" | "bil" => Ok(Method::Bilinear),
            "conservative" | "con" | "conservative_normed" => Ok(Method::Conservative),
            "patch" => {
                Err(Error::bad("the method 'patch' is not supported; use nearest_s2d, bilinear or conservative"))
            }
            other => Err(Error::bad(format!(
                "'{other}' is not a regridding method: use nearest_s2d, bilinear or conservative"
            ))),
        }
    }

    /// The name used in file names and metadata (rook's vocabulary).
    pub fn name(self) -> &'static str {
        match self {
            Method::Nearest => "nearest_s2d",
            Method::Bilinear => "bilinear",
            Method::Conservative => "conservative",
        }
    }
}

/// Looks up a dataset by id (for target grids taken from another dataset).
pub type DatasetLookup = Arc<dyn Fn(&str) -> Result<Arc<Dataset>> + Send + Sync>;

/// Process-wide regridding settings: where weights are kept and how other datasets
/// are found. Set once by the server; without it weights stay in memory only.
#[derive(Clone, Default)]
pub struct Settings {
    pub weights_dir: Option<PathBuf>,
    pub datasets: Option<DatasetLookup>,
}

fn settings_cell() -> &'static RwLock<Settings> {
    static S: OnceLock<RwLock<Settings>> = OnceLock::new();
    S.get_or_init(|| RwLock::new(Settings::default()))
}

/// Configure regridding for this process (the weights directory under the state
/// directory, the catalog lookup).
pub fn configure(settings: Settings) {
    if let Some(dir) = &settings.weights_dir {
        if let Err(e) = std::fs::create_dir_all(dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot create the regridding weights directory");
        }
    }
    match settings_cell().write() {
        Ok(mut s) => *s = settings,
        Err(p) => *p.into_inner() = settings,
    }
}

/// The current settings.
pub fn settings() -> Settings {
    settings_cell().read().map_or_else(|p| p.into_inner().clone(), |s| s.clone())
}

/// The process-wide weight cache (memory, plus the configured directory).
pub fn weight_cache() -> &'static WeightCache {
    static C: OnceLock<WeightCache> = OnceLock::new();
    C.get_or_init(|| WeightCache::new(512 << 20))
}
