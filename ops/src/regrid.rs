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

use crate::{Error, Result};
use std::path::PathBuf;

/// A regridding method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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

/// Regridding state: the weights, kept in memory (bounded) and, when a directory is
/// given, on disk for the next start. Part of the [`crate::Engine`].
pub struct Regridder {
    pub weights_dir: Option<PathBuf>,
    pub weights: WeightCache,
}

/// Memory for weights (bytes) unless configured otherwise.
pub const DEFAULT_WEIGHTS_MEMORY: u64 = 512 << 20;

impl Regridder {
    /// Weights in memory (`memory` bytes at most) and under `weights_dir` when given.
    pub fn new(weights_dir: Option<PathBuf>, memory: u64) -> Regridder {
        if let Some(dir) = &weights_dir {
            if let Err(e) = std::fs::create_dir_all(dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot create the regridding weights directory");
            }
        }
        Regridder { weights_dir, weights: WeightCache::new(memory) }
    }
}

impl Default for Regridder {
    /// Weights in memory only.
    fn default() -> Regridder {
        Regridder::new(None, DEFAULT_WEIGHTS_MEMORY)
    }
}
