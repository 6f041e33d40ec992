//! The persistent catalog index: the header, time values and bounding box of every
//! file a scan read, in SQLite in the state directory (`catalog-index.sqlite`), keyed
//! by path with the size and mtime that were read. A restart or a rescan takes the
//! headers of unchanged files from here and opens only new or changed files. Each file
//! is committed as it is read (WAL journal), so a server killed while indexing keeps
//! what it had indexed, and indexes each file once.

use cirrus_ops::catalog::{FileInfo, HeaderStore};
use cirrus_ops::model::SourceFile;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The SQLite catalog index.
pub struct SqliteIndex {
    conn: Mutex<Connection>,
}

fn mtime_ns(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn path_text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

impl SqliteIndex {
    /// Open (or create) the index at `path`.
    pub fn open(path: &Path) -> rusqlite::Result<SqliteIndex> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS files (
                path TEXT PRIMARY KEY,
                size INTEGER NOT NULL,
                mtime_ns INTEGER NOT NULL,
                format INTEGER NOT NULL,
                info BLOB NOT NULL
            );",
        )?;
        Ok(SqliteIndex { conn: Mutex::new(conn) })
    }

    /// Number of indexed files.
    pub fn len(&self) -> usize {
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        conn.query_row("SELECT count(*) FROM files", [], |r| r.get::<_, i64>(0)).map_or(0, |n| n as usize)
    }

    /// True when nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Version of the stored header encoding: rows of another version are read again.
const FORMAT: i64 = 1;

impl HeaderStore for SqliteIndex {
    fn load(&self, file: &SourceFile) -> Option<FileInfo> {
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let blob: Option<Vec<u8>> = conn
            .prepare_cached("SELECT info FROM files WHERE path = ?1 AND size = ?2 AND mtime_ns = ?3 AND format = ?4")
            .and_then(|mut st| {
                st.query_row(params![path_text(&file.path), file.size as i64, mtime_ns(file.mtime), FORMAT], |r| {
                    r.get(0)
                })
                .optional()
            })
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "catalog index read failed");
                None
            });
        blob.and_then(|b| FileInfo::decode(&b).ok())
    }

    fn save(&self, file: &SourceFile, info: &FileInfo) {
        let Ok(blob) = info.encode() else { return };
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let written = conn
            .prepare_cached(
                "INSERT OR REPLACE INTO files (path, size, mtime_ns, format, info) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut st| {
                st.execute(params![path_text(&file.path), file.size as i64, mtime_ns(file.mtime), FORMAT, blob])
            });
        if let Err(e) = written {
            tracing::warn!(error = %e, file = %file.path.display(), "catalog index write failed");
        }
    }

    fn retain(&self, roots: &[PathBuf], live: &[SourceFile]) {
        let live: std::collections::HashSet<String> = live.iter().map(|f| path_text(&f.path)).collect();
        let mut conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let gone: Vec<String> = {
            let Ok(mut st) = conn.prepare("SELECT path FROM files") else { return };
            let rows = st.query_map([], |r| r.get::<_, String>(0));
            rows.map(|it| {
                it.filter_map(Result::ok)
                    .filter(|p| roots.iter().any(|r| Path::new(p).starts_with(r)) && !live.contains(p))
                    .collect()
            })
            .unwrap_or_default()
        };
        if gone.is_empty() {
            return;
        }
        let Ok(tx) = conn.transaction() else { return };
        for p in &gone {
            let _ = tx.execute("DELETE FROM files WHERE path = ?1", params![p]);
        }
        if let Err(e) = tx.commit() {
            tracing::warn!(error = %e, "catalog index cleanup failed");
        }
    }
}
