//! The CDS API's ways of sending an API key (the keys themselves: [`crate::keys`]).

use super::CdsError;
use crate::keys::base64_decode;
use crate::state::AppState;
use axum::http::{header, HeaderMap};

fn unauthorized(detail: String) -> CdsError {
    CdsError::Unauthorized(detail)
}

const WHERE: &str =
    "keys are set by the server operator (CIRRUS_API_KEYS, --api-keys or the api_keys table of the config file)";

fn check(st: &AppState, key: &str, how: &str) -> Result<String, CdsError> {
    st.keys.user_of(key).ok_or_else(|| {
        let shown: String = key.chars().take(4).collect();
        unauthorized(format!("the API key '{shown}…' sent in {how} is not valid on this server; {WHERE}"))
    })
}

/// The user of a request to the current API: `PRIVATE-TOKEN: <key>` (as
/// ecmwf-datastores-client and cdsapi send it), or `Authorization: Bearer <key>`.
pub fn token_user(st: &AppState, headers: &HeaderMap) -> Result<String, CdsError> {
    if let Some(k) = headers.get("private-token").and_then(|v| v.to_str().ok()).filter(|k| !k.trim().is_empty()) {
        return check(st, k, "the PRIVATE-TOKEN header");
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    if let Some(k) = bearer {
        return check(st, k, "the Authorization header");
    }
    Err(unauthorized(format!(
        "this request needs an API key: send it in the PRIVATE-TOKEN header (cdsapi and ecmwf-datastores-client send the `key` of ~/.cdsapirc or ~/.ecmwfdatastoresrc there); {WHERE}"
    )))
}

/// The user of a request to the legacy API: HTTP basic auth with the user as user
/// name and the key as password (cdsapi sends `key: USER:KEY` of ~/.cdsapirc so).
pub fn basic_user(st: &AppState, headers: &HeaderMap) -> Result<String, CdsError> {
    let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Err(unauthorized(format!(
            "this request needs HTTP basic authentication with USER:KEY (the `key` of ~/.cdsapirc for the /api/v2 API); {WHERE}"
        )));
    };
    let creds = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))
        .and_then(|b| base64_decode(b.trim()))
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            unauthorized("the Authorization header is not HTTP basic authentication (Basic base64(USER:KEY))".into())
        })?;
    let (uid, key) = creds.split_once(':').unwrap_or(("", creds.as_str()));
    let user = check(st, key, "the basic authentication password")?;
    if !uid.is_empty() && uid != user {
        return Err(unauthorized(format!(
            "the key sent belongs to another user than '{uid}': write `key: {user}:<your key>` in ~/.cdsapirc"
        )));
    }
    Ok(user)
}
