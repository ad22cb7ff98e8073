//! What `hassette dev` watches, by modification time and size.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A settled change: the files differ from the last scan and stayed the same for this long
/// (editors write a file in several steps).
const SETTLE: Duration = Duration::from_millis(100);
/// A file written continuously still counts as changed after this long.
const SETTLE_AT_MOST: Duration = Duration::from_secs(2);

/// What changed since the last look.
#[derive(Debug, PartialEq)]
pub(super) enum Change {
    /// Source files, `Cargo.toml` or `build.rs` (possibly the configuration too): rebuild.
    Code(Vec<PathBuf>),
    /// The configuration file only: restart without a build.
    Config(Vec<PathBuf>),
}

impl Change {
    /// When the change was saved: the newest modification time among the changed files (now,
    /// for a removed file).
    pub(super) fn saved_at(&self) -> SystemTime {
        let (Self::Code(paths) | Self::Config(paths)) = self;
        paths
            .iter()
            .map(|p| {
                std::fs::metadata(p)
                    .and_then(|m| m.modified())
                    .unwrap_or_else(|_| SystemTime::now())
            })
            .max()
            .unwrap_or_else(SystemTime::now)
    }
}

type Snapshot = BTreeMap<PathBuf, (Option<SystemTime>, u64)>;

/// The watched files of a crate: everything under `src/`, `Cargo.toml`, `build.rs`, and the
/// configuration file.
#[derive(Debug)]
pub(super) struct Watched {
    crate_dir: PathBuf,
    config: PathBuf,
    last: Snapshot,
}

impl Watched {
    pub(super) fn new(crate_dir: &Path, config: &Path) -> Self {
        Self {
            crate_dir: crate_dir.to_path_buf(),
            config: config.to_path_buf(),
            last: Snapshot::new(),
        }
    }

    /// Takes the current state as the baseline.
    pub(super) fn scan(&mut self) {
        self.last = self.snapshot();
    }

    /// The change since the last call (or [`Watched::scan`]), once it has settled.
    pub(super) async fn changed(&mut self) -> Option<Change> {
        let mut now = self.snapshot();
        if now == self.last {
            return None;
        }
        let began = std::time::Instant::now();
        loop {
            tokio::time::sleep(SETTLE).await;
            let again = self.snapshot();
            if again == now || began.elapsed() > SETTLE_AT_MOST {
                now = again;
                break;
            }
            now = again;
        }
        let changed = differences(&self.last, &now);
        self.last = now;
        if changed.is_empty() {
            return None;
        }
        let code = changed.iter().any(|p| *p != self.config);
        let paths = changed.into_iter().map(|p| self.shown(&p)).collect();
        Some(if code {
            Change::Code(paths)
        } else {
            Change::Config(paths)
        })
    }

    fn shown(&self, path: &Path) -> PathBuf {
        path.strip_prefix(&self.crate_dir)
            .map_or_else(|_| path.to_path_buf(), Path::to_path_buf)
    }

    fn snapshot(&self) -> Snapshot {
        let mut files = Snapshot::new();
        let root = &self.crate_dir;
        for file in [
            root.join("Cargo.toml"),
            root.join("build.rs"),
            self.config.clone(),
        ] {
            stamp(&mut files, &file);
        }
        walk(&root.join("src"), &mut files, 0);
        files
    }
}

/// Records `path`'s modification time and size; a missing file is not recorded.
fn stamp(files: &mut Snapshot, path: &Path) {
    if let Ok(meta) = std::fs::metadata(path)
        && meta.is_file()
    {
        files.insert(path.to_path_buf(), (meta.modified().ok(), meta.len()));
    }
}

fn walk(dir: &Path, files: &mut Snapshot, depth: usize) {
    // A symlink loop or a vast tree under src/ must not hang the watcher.
    if depth > 16 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        match entry.file_type() {
            Ok(t) if t.is_dir() && !hidden => walk(&path, files, depth + 1),
            // Editors' swap and backup files (.x.swp, x~) are not sources.
            Ok(_) if !hidden && !path.to_string_lossy().ends_with('~') => stamp(files, &path),
            _ => {}
        }
    }
}

fn differences(before: &Snapshot, after: &Snapshot) -> Vec<PathBuf> {
    let mut changed: Vec<PathBuf> = after
        .iter()
        .filter(|(path, stamp)| before.get(*path) != Some(stamp))
        .map(|(path, _)| path.clone())
        .collect();
    changed.extend(
        before
            .keys()
            .filter(|path| !after.contains_key(*path))
            .cloned(),
    );
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tells_code_from_config_changes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = dir.path();
        let write = |rel: &str, text: &str| {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap_or(root))
                .unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
        };
        write("Cargo.toml", "[package]");
        write("src/main.rs", "fn main() {}");
        write("hassette.toml", "[hassette]");
        let mut watched = Watched::new(root, &root.join("hassette.toml"));
        watched.scan();
        assert_eq!(watched.changed().await, None);

        write("hassette.toml", "[hassette]\nlog_level = \"DEBUG\"");
        assert_eq!(
            watched.changed().await,
            Some(Change::Config(vec![PathBuf::from("hassette.toml")]))
        );
        write("src/apps/light.rs", "pub struct Light;");
        assert_eq!(
            watched.changed().await,
            Some(Change::Code(vec![PathBuf::from("src/apps/light.rs")]))
        );
        write("src/.main.rs.swp", "x");
        write("src/main.rs~", "x");
        assert_eq!(watched.changed().await, None);
        std::fs::remove_file(root.join("src/apps/light.rs")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            watched.changed().await,
            Some(Change::Code(vec![PathBuf::from("src/apps/light.rs")]))
        );
    }
}
