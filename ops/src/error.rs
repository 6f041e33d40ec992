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
    /// A bug or unexpected state (HTTP 500).
    Internal,
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
    #[error("dataset '{dataset}' is unavailable: {message}")]
    Unavailable { dataset: String, message: String },
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
            Error::File { .. } | Error::Write { .. } | Error::Unavailable { .. } | Error::Io(_) => ErrorKind::Storage,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// Shorthand for a [`Error::BadRequest`].
    pub fn bad(msg: impl Into<String>) -> Self {
        Error::BadRequest(msg.into())
    }
}

/// Result alias of the data engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;
