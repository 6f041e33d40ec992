//! Processing near the data: the operations offered as processes (subset, average,
//! workflows), protocol-free. Protocol front-ends turn their requests into the
//! parameters here and run them as jobs.

pub mod average;
pub mod bias;
pub mod ensemble;
pub mod indices;
pub mod output;
pub mod params;
pub mod provenance;
pub mod regrid;
pub mod run;
pub mod select;
pub mod subset;

use crate::{Catalog, Engine};
use std::path::Path;

/// What an operation needs to run: the engine, where to write, limits, and a progress
/// callback (fraction done 0-1 and a message) that fails when the job was cancelled.
pub struct RunContext<'a> {
    pub engine: &'a Engine,
    /// The datasets the run may read (its owner's view of the catalog).
    pub catalog: &'a Catalog,
    pub out_dir: &'a Path,
    /// Output files larger than this are split along time.
    pub file_limit: u64,
    /// The line added to `history`.
    pub history: String,
    pub progress: &'a mut dyn FnMut(f64, &str) -> crate::Result<()>,
}
