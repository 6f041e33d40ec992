//! Small files exercising edge cases rather than realism: every atomic type and
//! awkward attributes, a NetCDF-3 classic file with descending latitude, and groups.

mod all_types;
mod classic_desc_lat;
mod groups;

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::output::write_atomically;

/// Writes one file at the given path.
type WriteFn = fn(&Path) -> Result<()>;

/// Writes `misc/all_types.nc`, `misc/classic_desc_lat.nc` and `misc/groups.nc` under
/// `dir` and returns their paths.
pub(crate) fn write_all(dir: &Path) -> Result<Vec<PathBuf>> {
    let misc = dir.join("misc");
    let writers: [(&str, WriteFn); 3] = [
        ("all_types.nc", all_types::write),
        ("classic_desc_lat.nc", classic_desc_lat::write),
        ("groups.nc", groups::write),
    ];
    writers
        .into_iter()
        .map(|(name, write)| {
            let path = misc.join(name);
            write_atomically(&path, write)?;
            Ok(path)
        })
        .collect()
}
