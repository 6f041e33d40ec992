//! Who is calling, and what they may read.
//!
//! - **Identity**: an API key in `PRIVATE-TOKEN`, `Authorization: Bearer`, or HTTP basic
//!   authentication (the key as password, as libnetcdf/.netrc, GDAL, QGIS and the legacy
//!   CDS client send it). An unknown key is always refused (401).
//! - **Authentication for all endpoints** (`auth = "required"`): anonymous requests get
//!   401 with a `WWW-Authenticate: Basic` challenge, except `/health`, `/ready`,
//!   `/metrics` and result downloads (`/results/...`, CDS downloads), whose URLs carry
//!   an unguessable job id.
//! - **Read restrictions per data root** (`[[restrict]] root = "...", users = [...]`):
//!   the datasets under a restricted root exist only for the users listed. A handler
//!   takes the request's [`Access`] (the caller and the catalog as they may see it), a
//!   value it passes on explicitly into blocking tasks; jobs run with their owner's
//!   view.
//! - **Administration** (`/admin/...`): when API keys are configured, only the users of
//!   `admin_users`.

use crate::state::{AppState, State};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use cirrus_ops::Catalog;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The caller of a request, as the middleware identified it (a request extension).
#[derive(Clone, Debug, Default)]
pub struct Caller {
    /// The API key's owner.
    pub user: Option<String>,
}

/// What one request may read: the caller and the catalog as they may see it (without
/// the datasets of roots restricted to other users). Taken by handlers as an
/// extractor and moved into the blocking tasks that need it.
#[derive(Clone)]
pub struct Access {
    pub user: Option<String>,
    pub catalog: Arc<Catalog>,
}

impl Access {
    /// The view of `user` (None: anonymous).
    pub fn of(st: &AppState, user: Option<String>) -> Access {
        Access { catalog: st.catalog_for(user.as_deref()), user }
    }
}

impl Access {
    /// Whether the caller may see a job of `owner`: jobs belong to their owner (another
    /// caller neither lists nor reads them); anonymous jobs are everyone's.
    pub fn owns(&self, owner: Option<&str>) -> bool {
        owner.is_none() || owner == self.user.as_deref()
    }
}

impl FromRequestParts<State> for Access {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, st: &State) -> Result<Access, Self::Rejection> {
        let user = parts.extensions.get::<Caller>().and_then(|c| c.user.clone());
        Ok(Access::of(st, user))
    }
}

/// A data root readable only by some users.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Restriction {
    pub root: PathBuf,
    pub users: Vec<String>,
}

impl Restriction {
    /// `ROOT=user1,user2` (the command-line form).
    pub fn parse(s: &str) -> Result<Restriction, String> {
        let (root, users) = s.split_once('=').ok_or_else(|| format!("'{s}' is not ROOT=USER1,USER2"))?;
        Ok(Restriction {
            root: PathBuf::from(root),
            users: users.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_string).collect(),
        })
    }
}

/// The restricted roots (canonical paths) that `user` may not read.
pub fn hidden_roots(restrictions: &[Restriction], user: Option<&str>) -> Vec<PathBuf> {
    restrictions
        .iter()
        .filter(|r| user.is_none_or(|u| !r.users.iter().any(|x| x == u)))
        .map(|r| r.root.canonicalize().unwrap_or_else(|_| r.root.clone()))
        .collect()
}

/// True when a dataset with this first file lies under one of `hidden`.
pub fn is_hidden(first_file: &Path, hidden: &[PathBuf]) -> bool {
    hidden.iter().any(|h| first_file.starts_with(h))
}

/// Why a request's credentials were refused.
#[derive(Debug)]
pub struct BadCredentials(pub String);

const WHERE: &str =
    "keys are set by the server operator (CIRRUS_API_KEYS, --api-keys or the api_keys table of the config file)";

/// The API key a request carries, and where.
fn presented_key(headers: &HeaderMap) -> Option<(String, &'static str)> {
    if let Some(k) = headers.get("private-token").and_then(|v| v.to_str().ok()).filter(|k| !k.trim().is_empty()) {
        return Some((k.trim().to_string(), "the PRIVATE-TOKEN header"));
    }
    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())?;
    if let Some(k) = auth.strip_prefix("Bearer ").or_else(|| auth.strip_prefix("bearer ")) {
        return Some((k.trim().to_string(), "the Authorization header"));
    }
    let b = auth.strip_prefix("Basic ").or_else(|| auth.strip_prefix("basic "))?;
    let creds = crate::keys::base64_decode(b.trim()).and_then(|b| String::from_utf8(b).ok())?;
    Some((creds, "HTTP basic authentication"))
}

/// The caller of a request: Ok(None) when anonymous, Err for a key that is not valid.
pub fn identify(st: &AppState, headers: &HeaderMap) -> Result<Option<String>, BadCredentials> {
    let Some((key, how)) = presented_key(headers) else { return Ok(None) };
    if how == "HTTP basic authentication" {
        // `user:key`: the password is the key (the user name is not checked here; the
        // legacy CDS API checks it), or the whole `user:key` is a key
        let (_, k) = key.split_once(':').unwrap_or(("", key.as_str()));
        return st
            .keys
            .user_of(k)
            .or_else(|| st.keys.user_of(&key))
            .map(Some)
            .ok_or_else(|| BadCredentials(format!("the password sent in {how} is not a valid API key; {WHERE}")));
    }
    match st.keys.user_of(&key) {
        Some(u) => Ok(Some(u)),
        None => {
            let shown: String = key.chars().take(4).collect();
            Err(BadCredentials(format!("the API key '{shown}…' sent in {how} is not valid on this server; {WHERE}")))
        }
    }
}

/// Paths that never need credentials.
pub fn is_public(path: &str) -> bool {
    matches!(path, "/health" | "/ready" | "/metrics")
        || path.starts_with("/results/")
        || (path.starts_with("/api/retrieve/v1/jobs/") && path.contains("/download/"))
}

/// True when `user` may use `/admin/...`.
pub fn is_admin(st: &AppState, user: Option<&str>) -> bool {
    if !st.keys.any() {
        return true; // no keys configured: a private deployment
    }
    user.is_some_and(|u| st.config.admin_users.iter().any(|a| a == u))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restrictions() {
        let r = Restriction::parse("/data/closed=alice, bob").expect("parse");
        assert_eq!(r.users, ["alice", "bob"]);
        let all = [r];
        assert_eq!(hidden_roots(&all, None).len(), 1);
        assert_eq!(hidden_roots(&all, Some("carol")).len(), 1);
        assert!(hidden_roots(&all, Some("bob")).is_empty());
        assert!(is_hidden(Path::new("/data/closed/x.nc"), &hidden_roots(&all, None)));
        assert!(!is_hidden(Path::new("/data/open/x.nc"), &hidden_roots(&all, None)));
        assert!(Restriction::parse("nope").is_err());
    }

    #[test]
    fn restrictions_of_object_storage_roots() {
        let all = [Restriction::parse("s3://cmip/esgf/cordex=alice").expect("parse")];
        let hidden = hidden_roots(&all, Some("bob"));
        assert!(is_hidden(Path::new("s3://cmip/esgf/cordex/output/x.nc"), &hidden));
        assert!(!is_hidden(Path::new("s3://cmip/esgf/CMIP6/x.nc"), &hidden));
        assert!(!is_hidden(Path::new("s3://cmip/esgf/cordex2/x.nc"), &hidden));
        assert!(hidden_roots(&all, Some("alice")).is_empty());
    }
}
