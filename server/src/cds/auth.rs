//! API keys of the CDS API and the users they belong to. Keys come from the
//! environment (`CIRRUS_API_KEYS=user1:key1,user2:key2`), the key file (`--api-keys`,
//! `user:key` per line or comma separated, `#` comments) and the config file's
//! `[api_keys]` table (user = "key"). The files are re-read about every second, so keys
//! are added and revoked without a restart.

use super::CdsError;
use crate::app::AppState;
use crate::config::{ApiKeysConfig, FileConfig};
use axum::http::{header, HeaderMap};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Environment variable with `user:key` pairs.
pub const ENV: &str = "CIRRUS_API_KEYS";
/// How long a loaded key table is used before the sources are read again.
const REFRESH: Duration = Duration::from_secs(1);

struct Loaded {
    at: Instant,
    /// key → user
    keys: HashMap<String, String>,
}

static KEYS: Mutex<Option<Loaded>> = Mutex::new(None);

/// `user:key` pairs separated by commas or newlines; `#` starts a comment.
fn parse_pairs(text: &str, source: &str, keys: &mut HashMap<String, String>) {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        for pair in line.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match pair.split_once(':') {
                Some((user, key)) if !user.trim().is_empty() && !key.trim().is_empty() => {
                    keys.insert(key.trim().to_string(), user.trim().to_string());
                }
                _ => tracing::warn!(source, "ignoring an API key entry that is not user:key"),
            }
        }
    }
}

fn load(st: &AppState) -> HashMap<String, String> {
    let mut keys = HashMap::new();
    if let Some(p) = &st.config.config_file {
        match std::fs::read_to_string(p).map(|t| toml::from_str::<FileConfig>(&t)) {
            Ok(Ok(FileConfig { api_keys: Some(ApiKeysConfig::Table(t)), .. })) => {
                for (user, key) in t {
                    keys.insert(key, user);
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(file = %p.display(), error = %e, "config file unreadable; its API keys are ignored")
            }
            Err(e) => {
                tracing::warn!(file = %p.display(), error = %e, "config file unreadable; its API keys are ignored")
            }
        }
    }
    if let Some(p) = &st.config.api_keys_file {
        match std::fs::read_to_string(p) {
            Ok(t) => parse_pairs(&t, "api keys file", &mut keys),
            Err(e) => tracing::warn!(file = %p.display(), error = %e, "cannot read the API keys file"),
        }
    }
    if let Ok(v) = std::env::var(ENV) {
        parse_pairs(&v, ENV, &mut keys);
    }
    keys
}

/// True when any API key is configured.
pub fn any_keys(st: &AppState) -> bool {
    let mut guard = KEYS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if guard.as_ref().is_none_or(|l| l.at.elapsed() > REFRESH) {
        *guard = Some(Loaded { at: Instant::now(), keys: load(st) });
    }
    guard.as_ref().is_some_and(|l| !l.keys.is_empty())
}

/// The user a key belongs to.
pub fn user_of(st: &AppState, key: &str) -> Option<String> {
    let mut guard = KEYS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if guard.as_ref().is_none_or(|l| l.at.elapsed() > REFRESH) {
        *guard = Some(Loaded { at: Instant::now(), keys: load(st) });
    }
    let keys = &guard.as_ref()?.keys;
    if let Some(u) = keys.get(key.trim()) {
        return Some(u.clone());
    }
    // `user:key`, as written in ~/.cdsapirc for the legacy API
    let (user, k) = key.split_once(':')?;
    keys.get(k.trim()).filter(|u| u.as_str() == user.trim()).cloned()
}

fn unauthorized(detail: String) -> CdsError {
    CdsError::Unauthorized(detail)
}

const WHERE: &str =
    "keys are set by the server operator (CIRRUS_API_KEYS, --api-keys or the api_keys table of the config file)";

fn check(st: &AppState, key: &str, how: &str) -> Result<String, CdsError> {
    user_of(st, key).ok_or_else(|| {
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

/// Standard base64 (padding optional).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        }))
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let n = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(&acc.to_be_bytes()[1..=n]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_base64() {
        let mut k = HashMap::new();
        parse_pairs("alice:secret1, bob:secret2\n# carol:x\ndave:k:with:colons\nbroken", "test", &mut k);
        assert_eq!(k.get("secret1").map(String::as_str), Some("alice"));
        assert_eq!(k.get("secret2").map(String::as_str), Some("bob"));
        assert_eq!(k.get("k:with:colons").map(String::as_str), Some("dave"));
        assert_eq!(k.len(), 3);
        assert_eq!(base64_decode("YWxpY2U6c2VjcmV0MQ==").as_deref(), Some(&b"alice:secret1"[..]));
        assert_eq!(base64_decode("YQ").as_deref(), Some(&b"a"[..]));
        assert!(base64_decode("a").is_none());
        assert!(base64_decode("@@@@").is_none());
    }
}
