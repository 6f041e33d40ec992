//! Errors of the data engine. Each variant says what went wrong with the values that
//! matter; protocol front-ends map the [`ErrorKind`] to their own error document.

use std::path::PathBuf;

/// What kind of failure an [`Error`] is, for mapping to protocol status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The client asked for something malformed or impossible (HTTP 400).
    BadRequest,
    /// The dataset or variable does not exist (HTTP 404).
    NotFound,
    /// The request is larger than allowed (HTTP 413).
    TooLarge,
    /// The data on disk could not be read (HTTP 500).
    Storage,
    /// Object storage did not answer, refused or lost an object (HTTP 503).
    Unavailable,
    /// Object storage did not answer in time (HTTP 504).
    Timeout,
    /// A bug or unexpected state (HTTP 500).
    Internal,
}

/// A failure reported by a library the engine calls, kept as the source of an
/// [`Error`] (`std::error::Error::source` walks down to it).
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    /// libnetcdf's status code, with its message.
    #[error("{message} (NetCDF status {code})")]
    Netcdf { code: i32, message: String },
    #[error(transparent)]
    Hdf5(Box<hdf5::Error>),
    #[error(transparent)]
    Gdal(Box<gdal::errors::GdalError>),
}

impl From<hdf5::Error> for LibraryError {
    fn from(e: hdf5::Error) -> Self {
        LibraryError::Hdf5(Box::new(e))
    }
}

impl From<gdal::errors::GdalError> for LibraryError {
    fn from(e: gdal::errors::GdalError) -> Self {
        LibraryError::Gdal(Box::new(e))
    }
}

/// A failure in the data engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no dataset with id '{0}'")]
    DatasetNotFound(String),
    #[error("dataset '{dataset}' has no variable '{variable}'")]
    VariableNotFound { dataset: String, variable: String },
    #[error("variable '{variable}' has {rank} dimensions but the request gives {given} index ranges")]
    RankMismatch { variable: String, rank: usize, given: usize },
    #[error("index range [{start}:{stride}:{stop}] is outside dimension '{dim}' of '{variable}' (size {size}, valid indices 0..{max})", max = .size.saturating_sub(1))]
    IndexOutOfRange { variable: String, dim: String, start: usize, stride: usize, stop: usize, size: usize },
    #[error("invalid index range [{start}:{stride}:{stop}] on '{variable}': {reason}")]
    InvalidRange { variable: String, start: usize, stride: usize, stop: usize, reason: &'static str },
    #[error("{0}")]
    BadRequest(String),
    #[error("input '{input}': {message}")]
    InvalidInput { input: String, message: String },
    #[error("the input '{0}' is required")]
    MissingInput(String),
    #[error("the response would be {size} bytes, more than the limit of {limit} bytes; request a smaller subset")]
    TooLarge { size: u64, limit: u64 },
    #[error("{what} of {count} cells is too large (the limit is {limit} cells); request a coarser or smaller grid")]
    TooManyCells { what: &'static str, count: u64, limit: u64 },
    #[error("cannot read '{path}': {message}")]
    File { path: PathBuf, message: String },
    #[error("cannot write '{path}': {message}")]
    Write { path: PathBuf, message: String },
    /// A library failed while reading `path` (`what`: the step).
    #[error("cannot read '{path}': {what}: {source}")]
    ReadFailed {
        path: PathBuf,
        what: String,
        #[source]
        source: LibraryError,
    },
    /// A library failed while writing `path`.
    #[error("cannot write '{path}': {what}: {source}")]
    WriteFailed {
        path: PathBuf,
        what: String,
        #[source]
        source: LibraryError,
    },
    #[error("dataset '{dataset}' is unavailable: {message}")]
    Unavailable { dataset: String, message: String },
    /// Object storage failed (after retries) for the object `url`.
    #[error("object storage unavailable for '{url}': {message}")]
    StorageUnavailable { url: String, message: String },
    /// Object storage did not answer in time for the object `url`.
    #[error("object storage timed out for '{url}': {message}")]
    StorageTimeout { url: String, message: String },
    #[error("{0}")]
    Unsupported(String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The kind of this error, for status mapping.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::DatasetNotFound(_) => ErrorKind::NotFound,
            Error::VariableNotFound { .. }
            | Error::RankMismatch { .. }
            | Error::IndexOutOfRange { .. }
            | Error::InvalidRange { .. }
            | Error::BadRequest(_)
            | Error::InvalidInput { .. }
            | Error::MissingInput(_)
            | Error::Unsupported(_) => ErrorKind::BadRequest,
            Error::TooLarge { .. } | Error::TooManyCells { .. } => ErrorKind::TooLarge,
            Error::File { .. }
            | Error::Write { .. }
            | Error::ReadFailed { .. }
            | Error::WriteFailed { .. }
            | Error::Unavailable { .. }
            | Error::Io(_) => ErrorKind::Storage,
            Error::StorageUnavailable { .. } => ErrorKind::Unavailable,
            Error::StorageTimeout { .. } => ErrorKind::Timeout,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// A libnetcdf status of a read of `path`.
    pub fn netcdf_read(path: &std::path::Path, what: &str, code: i32) -> Self {
        Error::ReadFailed { path: path.to_path_buf(), what: what.to_string(), source: LibraryError::netcdf(code) }
    }

    /// A libnetcdf status of a write of `path`.
    pub fn netcdf_write(path: &std::path::Path, what: &str, code: i32) -> Self {
        Error::WriteFailed { path: path.to_path_buf(), what: what.to_string(), source: LibraryError::netcdf(code) }
    }

    /// A library failure while writing `path`.
    pub fn write_failed(path: &std::path::Path, what: &str, source: impl Into<LibraryError>) -> Self {
        Error::WriteFailed { path: path.to_path_buf(), what: what.to_string(), source: source.into() }
    }

    /// Shorthand for a [`Error::BadRequest`].
    pub fn bad(msg: impl Into<String>) -> Self {
        Error::BadRequest(msg.into())
    }
}

impl LibraryError {
    /// libnetcdf's status `code`.
    pub fn netcdf(code: i32) -> Self {
        LibraryError::Netcdf { code, message: crate::netcdf_io::nc_message(code) }
    }
}

/// Result alias of the data engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;
