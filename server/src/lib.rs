//! cirrus: climate model data near storage, over OPeNDAP (DAP2/DAP4), OGC WPS and
//! OGC API - Processes, the Copernicus CDS API, WMS/tiles, STAC and GeoTIFF/NetCDF
//! coverages. The `cirrus` binary (src/main.rs) starts the server; the library exposes
//! the protocol modules (for the binary, the tests and the fuzz targets).

pub mod access;
pub mod alloc;
pub mod catalog_index;
pub mod catalog_index_pg;
pub mod cds;
pub mod config;
pub mod coverage;
pub mod datasets;
pub mod edr;
pub mod esgf;
pub mod http;
pub mod jobs;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod observe;
pub mod ogcapi;
pub mod opendap;
pub mod pg;
pub mod processing;
pub mod protocol;
pub mod response_cache;
pub mod router;
pub mod stac;
pub mod state;
pub mod tiles;
pub mod timeseries;
pub mod usage;
pub mod web;
pub mod wms;
pub mod wps;
pub mod zarr;
