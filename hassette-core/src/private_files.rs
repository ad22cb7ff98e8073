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

/// For a "permission denied" on `path`: which user hassette runs as and what to do about it
/// (`""` for any other error), to append to the error's message.
pub(crate) fn permission_advice(path: &Path, err: &io::Error) -> String {
    if err.kind() != io::ErrorKind::PermissionDenied {
        return String::new();
    }
    let dir = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or(path)
    };
    let uid = current_uid();
    let user = uid
        .and_then(user_name)
        .unwrap_or_else(|| uid.map_or_else(|| "this user".to_owned(), |u| format!("uid {u}")));
    let uid_text = uid.map_or_else(String::new, |u| format!(" (uid {u})"));
    format!(
        "; hassette runs as user `{user}`{uid_text}, which may not write in {dir}: make that \
         user its owner (`sudo chown -R {user} {dir}`) or set `data_dir` in hassette.toml to a \
         directory it owns",
        dir = dir.display()
    )
}

fn current_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn user_name(uid: u32) -> Option<String> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::permission_advice;

    #[test]
    fn permission_advice_names_the_directory_the_user_and_the_fix() {
        let dir = std::env::temp_dir();
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let advice = permission_advice(&dir.join("cache.redb"), &denied);
        assert!(advice.contains(&dir.display().to_string()), "{advice}");
        assert!(
            advice.contains("runs as user `") && advice.contains("(uid "),
            "{advice}"
        );
        assert!(
            advice.contains("chown -R") && advice.contains("data_dir"),
            "{advice}"
        );
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        assert_eq!(permission_advice(&dir, &full), "");
    }
}
