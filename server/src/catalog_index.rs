//! The persistent catalog index, in SQLite in the state directory
//! (`catalog-index.sqlite`): the header, time values and bounding box of every file a
//! scan read (keyed by path with the size and mtime that were read), and per group of
//! files (a DRS dataset version or a lone file) the summaries of the datasets it gave,
//! their full descriptions and the paths naming them. A restart serves the catalog
//! from here at once; a pass opens only new or changed files. Groups are committed with
//! the headers read for them, a batch of groups per transaction (WAL journal), so a
//! server killed while indexing keeps what it had indexed, and indexes nothing twice.

use cirrus_ops::catalog::store::{self, decode_entry, decode_group, FileRow, GroupRows};
use cirrus_ops::catalog::{CatalogStore, Entry, FileInfo, GroupRecord, GroupWrite};
use cirrus_ops::model::SourceFile;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The SQLite catalog index.
pub struct SqliteIndex {
    conn: Mutex<Connection>,
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
            );
            CREATE TABLE IF NOT EXISTS groups (
                key TEXT PRIMARY KEY,
                format INTEGER NOT NULL,
                record BLOB NOT NULL
            );
            CREATE TABLE IF NOT EXISTS datasets (
                id TEXT PRIMARY KEY,
                grp TEXT NOT NULL,
                detail BLOB NOT NULL
            );
            CREATE INDEX IF NOT EXISTS datasets_grp ON datasets (grp);
            CREATE TABLE IF NOT EXISTS paths (
                path TEXT PRIMARY KEY,
                grp TEXT NOT NULL,
                dataset TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS paths_grp ON paths (grp);",
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

/// Versions of the stored encodings (shared with the PostgreSQL index).
const FORMAT: i64 = store::HEADER_FORMAT as i64;
const GROUP_FORMAT: i64 = store::GROUP_FORMAT as i64;

fn warn_failed<T>(r: rusqlite::Result<T>, what: &str) -> Option<T> {
    r.map_err(|e| tracing::warn!(error = %e, "catalog index: {what} failed")).ok()
}

/// Delete a group's rows (within a transaction).
fn delete_group(tx: &rusqlite::Transaction, key: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM groups WHERE key = ?1")?.execute(params![key])?;
    tx.prepare_cached("DELETE FROM datasets WHERE grp = ?1")?.execute(params![key])?;
    tx.prepare_cached("DELETE FROM paths WHERE grp = ?1")?.execute(params![key])?;
    Ok(())
}

impl CatalogStore for SqliteIndex {
    fn load(&self, file: &SourceFile) -> Option<FileInfo> {
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let blob: Option<Vec<u8>> = conn
            .prepare_cached("SELECT info FROM files WHERE path = ?1 AND size = ?2 AND mtime_ns = ?3 AND format = ?4")
            .and_then(|mut st| {
                let (path, size, mtime_ns) = FileRow::key(file);
                st.query_row(params![path, size, mtime_ns, FORMAT], |r| r.get(0)).optional()
            })
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "catalog index read failed");
                None
            });
        blob.and_then(|b| FileInfo::decode(&b).ok())
    }

    fn retain(&self, roots: &[PathBuf], live: &[&SourceFile]) {
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

    fn groups(&self) -> Vec<GroupRecord> {
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let rows = conn.prepare("SELECT record FROM groups WHERE format = ?1").and_then(|mut st| {
            st.query_map(params![GROUP_FORMAT], |r| r.get::<_, Vec<u8>>(0))?.collect::<rusqlite::Result<Vec<_>>>()
        });
        warn_failed(rows, "reading the groups")
            .unwrap_or_default()
            .iter()
            .filter_map(|b| decode_group(b).ok())
            .collect()
    }

    fn put_groups(&self, groups: &[GroupWrite]) {
        if groups.is_empty() {
            return;
        }
        let rows: Vec<GroupRows> = groups.iter().map(GroupWrite::rows).collect();
        let mut conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let written =
            (|| {
                let tx = conn.transaction()?;
                for g in &rows {
                    for f in &g.files {
                        tx.prepare_cached(
                        "INSERT OR REPLACE INTO files (path, size, mtime_ns, format, info) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![f.path, f.size, f.mtime_ns, FORMAT, f.info])?;
                    }
                    delete_group(&tx, &g.key)?;
                    tx.prepare_cached("INSERT INTO groups (key, format, record) VALUES (?1, ?2, ?3)")?
                        .execute(params![g.key, GROUP_FORMAT, g.record])?;
                    for (id, blob) in &g.details {
                        tx.prepare_cached("INSERT OR REPLACE INTO datasets (id, grp, detail) VALUES (?1, ?2, ?3)")?
                            .execute(params![id, g.key, blob])?;
                    }
                    for (path, id) in &g.paths {
                        tx.prepare_cached("INSERT OR REPLACE INTO paths (path, grp, dataset) VALUES (?1, ?2, ?3)")?
                            .execute(params![path, g.key, id])?;
                    }
                }
                tx.commit()
            })();
        warn_failed(written, "recording datasets");
    }

    fn remove_group(&self, key: &str) {
        let mut conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let done = (|| {
            let tx = conn.transaction()?;
            delete_group(&tx, key)?;
            tx.commit()
        })();
        warn_failed(done, "forgetting a dataset");
    }

    fn dataset(&self, id: &str) -> Option<Entry> {
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let blob = conn
            .prepare_cached("SELECT detail FROM datasets WHERE id = ?1")
            .and_then(|mut st| st.query_row(params![id], |r| r.get::<_, Vec<u8>>(0)).optional());
        drop(conn);
        decode_entry(&warn_failed(blob, "reading a dataset")??).ok()
    }

    fn dataset_of(&self, path: &str) -> Option<String> {
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let id = conn
            .prepare_cached("SELECT dataset FROM paths WHERE path = ?1")
            .and_then(|mut st| st.query_row(params![path], |r| r.get::<_, String>(0)).optional());
        warn_failed(id, "looking up a path")?
    }
}
