//! Files and directories only their owner can read: caches and logs hold entity states,
//! API responses and, at DEBUG, every frame from Home Assistant.
//!
//! Modes are set explicitly after creation, so they hold whatever the process's umask is.

use std::fs::{self, DirBuilder, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// The mode of every directory hassette creates under its data dir.
pub(crate) const DIR_MODE: u32 = 0o700;
/// The mode of every file hassette writes under its data dir.
pub(crate) const FILE_MODE: u32 = 0o600;

/// Creates `dir` and any missing parent with mode 0700, and makes `dir` itself 0700 if it
/// already existed. Parents that existed are left as they are (`/var/lib` is not ours).
pub(crate) fn create_dir(dir: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(p) = at {
        if p.as_os_str().is_empty() || p.is_dir() {
            break;
        }
        missing.push(p);
        at = p.parent();
    }
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    for p in missing {
        fs::set_permissions(p, Permissions::from_mode(DIR_MODE))?;
    }
    set_mode(dir, DIR_MODE)
}

/// Makes `path` (a file hassette wrote) readable by its owner only.
pub(crate) fn restrict_file(path: &Path) -> io::Result<()> {
    set_mode(path, FILE_MODE)
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    let meta = fs::metadata(path)?;
    if meta.permissions().mode() & 0o777 != mode {
        fs::set_permissions(path, Permissions::from_mode(mode))?;
    }
    Ok(())
}
