//! API keys and the users they belong to. Keys come from the environment
//! (`CIRRUS_API_KEYS=user1:key1,user2:key2`), the key file (`--api-keys`, `user:key` per
//! line or comma separated, `#` comments) and the config file's `[api_keys]` table
//! (user = "key"). The sources are re-read about every second, so keys are added and
//! revoked without a restart. Every protocol identifies callers through [`KeyStore`].

use crate::config::{ApiKeysConfig, Config, FileConfig};
use std::collections::HashMap;
use std::path::PathBuf;
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

fn load(sources: &Sources) -> HashMap<String, String> {
    let mut keys = HashMap::new();
    if let Some(p) = &sources.config_file {
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
    if let Some(p) = &sources.api_keys_file {
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

/// Where keys are read from.
struct Sources {
    config_file: Option<PathBuf>,
    api_keys_file: Option<PathBuf>,
}

/// The API keys, re-read from their sources about every second.
pub struct KeyStore {
    sources: Sources,
    loaded: Mutex<Option<Loaded>>,
}

impl KeyStore {
    /// Keys from the sources `config` names (and the environment).
    pub fn new(config: &Config) -> KeyStore {
        KeyStore {
            sources: Sources { config_file: config.config_file.clone(), api_keys_file: config.api_keys_file.clone() },
            loaded: Mutex::new(None),
        }
    }

    /// Run `f` on the current key table (re-read when older than [`REFRESH`]).
    fn with<T>(&self, f: impl FnOnce(&HashMap<String, String>) -> T) -> T {
        let mut guard = self.loaded.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match guard.as_ref() {
            Some(l) if l.at.elapsed() <= REFRESH => f(&l.keys),
            _ => {
                let keys = load(&self.sources);
                let out = f(&keys);
                *guard = Some(Loaded { at: Instant::now(), keys });
                out
            }
        }
    }

    /// True when any API key is configured.
    pub fn any(&self) -> bool {
        self.with(|k| !k.is_empty())
    }

    /// The user a key belongs to (a key, or `user:key` as the legacy CDS API sends it).
    pub fn user_of(&self, key: &str) -> Option<String> {
        self.with(|keys| {
            if let Some(u) = keys.get(key.trim()) {
                return Some(u.clone());
            }
            let (user, k) = key.split_once(':')?;
            keys.get(k.trim()).filter(|u| u.as_str() == user.trim()).cloned()
        })
    }
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
