//! API keys and the users they belong to (from `CIRRUS_API_KEYS`, `--api-keys` and the
//! config file; re-read without restart). The store lives with the CDS API, its first
//! user; every protocol identifies callers through these functions.

pub use crate::cds::auth::{any_keys as any, base64_decode, user_of};
