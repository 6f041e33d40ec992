//! OGC API - Environmental Data Retrieval over the datasets: the query parameters
//! ([`query`], WKT places in [`geometry`]), their resolution to grid cells, time steps
//! and levels ([`plan`]), and the answer documents ([`encode`]: CoverageJSON, GeoJSON,
//! CSV; NetCDF goes through [`plan::Plan::selection`] and the NetCDF writer). The values
//! are read by [`crate::series::at_cells`].

pub mod encode;
pub mod geometry;
pub mod plan;
pub mod query;

pub use plan::Plan;
pub use query::{Format, Query, QueryType};
