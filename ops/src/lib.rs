//! cirrus data engine: the dataset model (CF on top of NetCDF), the catalog of data
//! roots, readers, operations and encoders. No HTTP here: protocol front-ends in
//! `cirrus-server` translate their requests into calls of this crate.

pub mod array;
pub mod catalog;
pub mod cf;
pub mod clock;
pub mod edr;
pub mod encode;
pub mod engine;
pub mod error;
pub mod geo;
pub mod geotiff;
pub mod hyperslab;
pub mod model;
pub mod netcdf3;
pub mod netcdf_io;
pub mod object;
pub mod process;
pub mod read;
pub mod regrid;
pub mod render;
pub mod selection;
pub mod series;
pub mod timeseries;
pub mod zarr;

pub use array::{Array, Data};
pub use catalog::{Catalog, HeaderCache};
pub use engine::{Engine, EngineConfig};
pub use error::{Error, ErrorKind, Result};
pub use hyperslab::{DimRange, Hyperslab};
pub use model::{AttrValue, Attribute, DataType, Dataset, Dimension, Filter, Variable};
pub use read::Reader;
pub use selection::{DimSel, Selection, VarSel};
