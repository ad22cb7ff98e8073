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
    /// Only records whose message matches.
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

/// A compiled query: its byte prefilters and parsed bounds.
#[derive(Debug)]
pub struct Matcher {
    query: LogQuery,
    min_rank: usize,
    app_needle: Option<Finder<'static>>,
    instance_needle: Option<Finder<'static>>,
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
            || q.grep.as_ref().is_some_and(|re| !re.is_match(&record.msg))
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
    /// (being written, or cut by a crash) is left for later.
    fn scan(&self, cursor: &mut Cursor, sink: &mut dyn FnMut(Match)) -> io::Result<()> {
        let Some(path) = &cursor.file else {
            return Ok(());
        };
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
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 || line.last() != Some(&b'\n') {
                break;
            }
            cursor.offset += n as u64;
            let body = &line[..n - 1];
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
