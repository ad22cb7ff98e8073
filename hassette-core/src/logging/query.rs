//! Reading the log store: the engine of `hassette log`.
//!
//! A query reads only the files whose time span overlaps its window (their names say when
//! they start), and looks for the app's and instance's exact JSON bytes before parsing a line,
//! so a recent window of one app costs a few megabytes of reading, not the whole store.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use memchr::memmem::Finder;
use regex::Regex;

use super::record::{Record, level_rank};
use super::store::{StoreFile, list_files};

/// What to show.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct LogQuery {
    /// Only this app key.
    pub app: Option<String>,
    /// Only this instance name.
    pub instance: Option<String>,
    /// Only records at or after this instant.
    pub since: Option<Timestamp>,
    /// Only records before this instant.
    pub until: Option<Timestamp>,
    /// Only records at this level or more severe (`INFO`, `warn`, ...).
    pub min_level: Option<String>,
    /// Only records whose message, or one of whose fields as `key=value`, matches.
    pub grep: Option<Regex>,
    /// Only the last N matching records.
    pub limit: Option<usize>,
}

/// A matching record, and its line as stored (for `--json`).
#[derive(Clone, Debug)]
pub struct Match {
    /// The parsed record.
    pub record: Record,
    /// The stored JSON line, without its newline.
    pub line: String,
}

/// Where a follow-up read continues: the file and the offset after the last whole line.
#[derive(Clone, Debug, Default)]
pub struct Cursor {
    file: Option<PathBuf>,
    offset: u64,
}

impl Cursor {
    /// The end of the store in `dir` as it is now: following from here shows only new records.
    ///
    /// # Errors
    ///
    /// Reading the directory failed.
    pub fn at_end(dir: &Path) -> io::Result<Self> {
        let file = list_files(dir)?.pop().map(|f| f.path);
        let offset = file
            .as_ref()
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len());
        Ok(Self { file, offset })
    }
}

/// The longest line a query reads; a longer one is skipped (reading no more of it than it
/// must), with a warning.
pub const MAX_LINE: usize = 1024 * 1024;

/// A compiled query: its byte prefilters and parsed bounds.
#[derive(Debug)]
pub struct Matcher {
    query: LogQuery,
    min_rank: usize,
    app_needle: Option<Finder<'static>>,
    instance_needle: Option<Finder<'static>>,
    warnings: std::sync::Mutex<Vec<String>>,
}

impl Matcher {
    /// Compiles `query`.
    ///
    /// # Errors
    ///
    /// An unknown `min_level`, named in the message with the accepted levels.
    pub fn new(query: LogQuery) -> Result<Self, String> {
        let min_rank = match &query.min_level {
            None => 0,
            Some(l) => level_rank(l).ok_or_else(|| {
                format!("{l:?} is not a log level; use TRACE, DEBUG, INFO, WARN or ERROR")
            })?,
        };
        // Records are written by serde_json, so the tag appears in exactly this form.
        let needle = |key: &str, value: &Option<String>| {
            value.as_ref().map(|v| {
                let text = format!("\"{key}\":{}", serde_json::Value::String(v.clone()));
                Finder::new(text.as_bytes()).into_owned()
            })
        };
        let app_needle = needle("app", &query.app);
        let instance_needle = needle("instance", &query.instance);
        Ok(Self {
            query,
            min_rank,
            app_needle,
            instance_needle,
            warnings: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// What the reads so far skipped (an unreadable file, a directory, an overlong line), one
    /// message each naming it; taken, so each is told once.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(
            &mut *self
                .warnings
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    fn warn(&self, message: String) {
        self.warnings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(message);
    }

    /// Whether `--grep` matches the message or one of the fields, written `key=value` as
    /// `hassette log` prints them.
    fn grep_matches(re: &Regex, record: &Record) -> bool {
        re.is_match(&record.msg)
            || record.fields.iter().any(|(key, value)| match value {
                serde_json::Value::String(s) => re.is_match(&format!("{key}={s}")),
                other => re.is_match(&format!("{key}={other}")),
            })
    }

    /// Whether a stored line matches; the parsed record if so.
    fn matches(&self, line: &[u8]) -> Option<Record> {
        if let Some(f) = &self.app_needle
            && f.find(line).is_none()
        {
            return None;
        }
        if let Some(f) = &self.instance_needle
            && f.find(line).is_none()
        {
            return None;
        }
        // A line that does not parse is a partial record left by a crash: skipped.
        let record: Record = serde_json::from_slice(line).ok()?;
        let q = &self.query;
        if q.app.is_some() && record.app != q.app
            || q.instance.is_some() && record.instance != q.instance
            || q.since.is_some_and(|s| record.ts < s)
            || q.until.is_some_and(|u| record.ts >= u)
            || level_rank(&record.level).unwrap_or(0) < self.min_rank
            || q.grep
                .as_ref()
                .is_some_and(|re| !Self::grep_matches(re, &record))
        {
            return None;
        }
        Some(record)
    }

    /// Runs the query over the store in `dir`, oldest first. Returns the matches (the last
    /// `limit` of them, if set) and a cursor for [`Matcher::follow`].
    ///
    /// # Errors
    ///
    /// Reading the directory or a file failed.
    pub fn run(&self, dir: &Path) -> io::Result<(Vec<Match>, Cursor)> {
        let files = list_files(dir)?;
        for entry in std::fs::read_dir(dir)?.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                self.warn(format!(
                    "skipped {}: a directory in the log store (it holds only files)",
                    entry.path().display()
                ));
            }
        }
        let mut out: VecDeque<Match> = VecDeque::new();
        let mut cursor = Cursor::default();
        for (i, file) in files.iter().enumerate() {
            let end = files.get(i + 1).map(|f: &StoreFile| f.start);
            let before_window = self
                .query
                .since
                .is_some_and(|s| end.is_some_and(|e| e <= s));
            // A name may be a few milliseconds later than its first record (see the store's
            // naming), hence the margin.
            let margin = jiff::SignedDuration::from_secs(1);
            let after_window = self
                .query
                .until
                .is_some_and(|u| u.checked_add(margin).is_ok_and(|u| file.start >= u));
            if before_window || after_window {
                continue;
            }
            cursor = Cursor {
                file: Some(file.path.clone()),
                offset: 0,
            };
            self.scan(&mut cursor, &mut |m| {
                out.push_back(m);
                if let Some(limit) = self.query.limit
                    && out.len() > limit
                {
                    out.pop_front();
                }
            })?;
        }
        if cursor.file.is_none() {
            cursor.file = files.last().map(|f| f.path.clone());
            if let Some(path) = &cursor.file {
                cursor.offset = std::fs::metadata(path).map_or(0, |m| m.len());
            }
        }
        Ok((out.into(), cursor))
    }

    /// The matches written since `cursor`, in this file and any newer ones; advances it.
    ///
    /// # Errors
    ///
    /// Reading the directory or a file failed.
    pub fn follow(&self, dir: &Path, cursor: &mut Cursor) -> io::Result<Vec<Match>> {
        let mut out = Vec::new();
        self.scan(cursor, &mut |m| out.push(m))?;
        let newer: Vec<PathBuf> = list_files(dir)?
            .into_iter()
            .map(|f| f.path)
            .filter(|p| cursor.file.as_ref().is_none_or(|c| p > c))
            .collect();
        for path in newer {
            *cursor = Cursor {
                file: Some(path),
                offset: 0,
            };
            self.scan(cursor, &mut |m| out.push(m))?;
        }
        Ok(out)
    }

    /// Reads whole lines of the cursor's file from its offset; a last line without its newline
    /// (being written, or cut by a crash) is left for later. A file that cannot be read is
    /// skipped with a warning, and so is a line longer than [`MAX_LINE`].
    fn scan(&self, cursor: &mut Cursor, sink: &mut dyn FnMut(Match)) -> io::Result<()> {
        let Some(path) = cursor.file.clone() else {
            return Ok(());
        };
        if let Err(e) = self.scan_file(&path, cursor, sink) {
            self.warn(format!("skipped {}: {e}", path.display()));
        }
        Ok(())
    }

    fn scan_file(
        &self,
        path: &Path,
        cursor: &mut Cursor,
        sink: &mut dyn FnMut(Match),
    ) -> io::Result<()> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            // Pruned since it was listed.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        file.seek(SeekFrom::Start(cursor.offset))?;
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut line = Vec::with_capacity(512);
        loop {
            line.clear();
            let (n, whole) = read_line_bounded(&mut reader, &mut line, MAX_LINE)?;
            let Some(n) = n else {
                // End of the file, within a line still being written (or none).
                break;
            };
            let at = cursor.offset;
            cursor.offset += n;
            if !whole {
                self.warn(format!(
                    "skipped a line of {n} bytes (more than {MAX_LINE}) at byte {at} of {}",
                    path.display()
                ));
                continue;
            }
            let body = &line[..line.len() - 1];
            if let Some(record) = self.matches(body) {
                sink(Match {
                    record,
                    line: String::from_utf8_lossy(body).into_owned(),
                });
            }
        }
        Ok(())
    }
}

/// Reads one line, newline included, keeping at most `max` bytes of it: `(Some(n), true)` for
/// a whole line of `n` bytes in `line`, `(Some(n), false)` for a longer one consumed without
/// being kept, `(None, _)` at the end of the input without a newline.
fn read_line_bounded(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
) -> io::Result<(Option<u64>, bool)> {
    let mut total: u64 = 0;
    let mut kept = true;
    loop {
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok((None, kept));
        }
        let (chunk, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let len = chunk.len();
        if kept && line.len() + len <= max {
            line.extend_from_slice(chunk);
        } else {
            kept = false;
            line.clear();
        }
        total += len as u64;
        reader.consume(len);
        if done {
            return Ok((Some(total), kept));
        }
    }
}
