//! Putting files in place: parent directories and atomic replacement, so that an
//! interrupted run never leaves a truncated file under its final name.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Creates the parent directories of `path`, lets `write` write a hidden temporary
/// file next to it (`.<name>.partial`, ignored by the catalog) and renames that file to
/// `path` once `write` succeeded. The temporary file is removed on failure.
pub(crate) fn write_atomically(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let temporary = temporary_path(path)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let written = write(&temporary).and_then(|()| {
        std::fs::rename(&temporary, path)
            .with_context(|| format!("renaming {} to {}", temporary.display(), path.display()))
    });
    if written.is_err() {
        // Best effort: the error being returned is the one that matters.
        let _ = std::fs::remove_file(&temporary);
    }
    written.with_context(|| format!("writing {}", path.display()))
}

fn temporary_path(path: &Path) -> Result<PathBuf> {
    let name = path.file_name().with_context(|| format!("{} has no file name", path.display()))?;
    Ok(path.with_file_name(format!(".{}.partial", name.to_string_lossy())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_on_success() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("a/b/file.nc");
        write_atomically(&path, |tmp| Ok(std::fs::write(tmp, b"one")?))?;
        assert_eq!(std::fs::read(&path)?, b"one");
        let failed = write_atomically(&path, |tmp| {
            std::fs::write(tmp, b"two")?;
            anyhow::bail!("interrupted")
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path)?, b"one");
        assert_eq!(std::fs::read_dir(dir.path().join("a/b"))?.count(), 1);
        Ok(())
    }
}
