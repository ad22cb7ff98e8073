//! A workload in a child process that prints every operation before it starts (`try ...`)
//! and once it was acknowledged; the parent replays the acknowledged lines into a model and,
//! after a fault, a kill or a clean close, checks the reopened cache against it. The one
//! operation in flight at a kill may or may not have happened: both outcomes are accepted.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use hassette_core::cache::{Cache, CacheOptions};

/// The child side: `ops <mode>` on the cache in `dir`. Stops when `<dir>.stop` exists:
/// closes the cache and prints `closed`.
///
/// Modes: `plain` (sets, deletes, clears; the parent makes the fault), `fds` (the child
/// exhausts its own descriptors for a while), `mixed` (also TTL writes, `incr`, batches),
/// `evict` (a 512 KiB limit: constant eviction and compaction), `logcap` (60 KiB values with
/// a 1 MiB limit, whose log cap of 40 KiB is smaller than one value: each write fills the
/// log past its cap, so the next one waits for the flusher, however fast the disk is).
pub(crate) fn run_ops(dir: &Path, mode: &str) {
    let mut out = std::io::stdout();
    let (limit, value_len, flush) = match mode {
        "evict" => (512 << 10, 4000, 2),
        // With a large limit the log cap (4% of it) is only reached when the disk is slower
        // than the writer, which a quiet machine never is: the test then waited forever for
        // a log wait. A cap smaller than one value makes the wait certain.
        "logcap" => (1 << 20, 60_000, 5),
        _ => (64 << 20, 1000, 5),
    };
    let opts = CacheOptions::new(dir, "TestApp")
        .size_limit(limit)
        .flush_interval(Duration::from_millis(flush));
    let cache = Cache::open(opts).expect("child open");
    let stop = dir.with_extension("stop");
    let value = "v".repeat(value_len);
    let mut held = Vec::new();
    let mixed = mode == "mixed";
    let plain_ops = matches!(mode, "plain" | "fds" | "mixed");
    let mut say = |line: String| {
        writeln!(out, "{line}").unwrap();
        out.flush().unwrap();
    };
    for n in 0u64.. {
        if mode == "fds" {
            if n == 300 {
                // Every descriptor this process may have: log rotations now fail.
                while let Ok(f) = std::fs::File::open("/dev/null") {
                    held.push(f);
                }
                say("fault".into());
            }
            if n == 900 {
                held.clear();
                say("cleared".into());
            }
        }
        let key = format!("k{n}");
        say(format!("try set {n}"));
        let result = if mixed && n % 2 == 0 {
            cache.set_with_ttl(&key, &(n, &value), Duration::from_secs(3600))
        } else {
            cache.set(&key, &(n, &value))
        };
        say(result.map_or_else(|e| format!("fail {e}"), |()| format!("set {n}")));
        if plain_ops && n % 7 == 0 && n >= 3 {
            say(format!("try del {}", n - 3));
            say(match cache.delete(&format!("k{}", n - 3)) {
                Ok(true) => format!("del {}", n - 3),
                Ok(false) => "nodel".to_owned(),
                Err(e) => format!("fail {e}"),
            });
        }
        if plain_ops && n % 300 == 150 {
            say("try clear".into());
            say(cache
                .clear()
                .map_or_else(|e| format!("fail {e}"), |()| "clear".into()));
        }
        if mixed {
            say("try incr".into());
            say(cache
                .incr("counter", 1)
                .map_or_else(|e| format!("fail {e}"), |v| format!("incr {v}")));
            if n % 5 == 0 {
                say(format!("try batch {n}"));
                let result = cache
                    .batch()
                    .set(&format!("x{n}"), &n)
                    .and_then(|b| b.set(&format!("y{n}"), &n))
                    .and_then(|b| b.delete(&format!("x{}", n.saturating_sub(5))))
                    .and_then(|b| b.delete(&format!("y{}", n.saturating_sub(5))))
                    .and_then(hassette_core::cache::WriteBatch::commit);
                say(result.map_or_else(|e| format!("fail {e}"), |()| format!("batch {n}")));
            }
        }
        if n % 50 == 0 {
            let s = cache.stats();
            say(format!(
                "stats {} {} {}",
                s.evictions, s.compactions, s.log_waits
            ));
        }
        if stop.exists() {
            held.clear();
            say(cache
                .close()
                .map_or_else(|e| format!("close-failed {e}"), |()| "closed".into()));
            return;
        }
        if mode != "logcap" {
            std::thread::sleep(Duration::from_micros(300));
        }
    }
}

/// The state a sequence of acknowledged lines leads to.
#[derive(Clone, Default)]
struct State {
    keys: HashMap<u64, bool>,
    batches: HashMap<u64, bool>,
    counter: i64,
}

impl State {
    fn apply(&mut self, op: &str) {
        let mut words = op.split_whitespace();
        let (verb, arg) = (words.next().unwrap_or(""), words.next());
        let n = || arg.and_then(|a| a.parse::<u64>().ok());
        match verb {
            "set" => {
                self.keys.insert(n().unwrap(), true);
            }
            "del" => {
                self.keys.insert(n().unwrap(), false);
            }
            "clear" => {
                self.keys.values_mut().for_each(|v| *v = false);
                self.batches.values_mut().for_each(|v| *v = false);
                self.counter = 0;
            }
            "incr" => self.counter = arg.map_or(self.counter + 1, |a| a.parse().unwrap()),
            "batch" => {
                let n = n().unwrap();
                self.batches.insert(n.saturating_sub(5), false);
                self.batches.insert(n, true);
            }
            _ => {}
        }
    }
}

/// What the parent learned from the child's lines.
#[derive(Default)]
pub(crate) struct Model {
    acked: State,
    pending: Option<String>,
    pub(crate) acks: u64,
    pub(crate) failures: Vec<String>,
    pub(crate) closed: Option<String>,
    pub(crate) saw: Vec<String>,
    /// `(evictions, compactions, log_waits)` last reported.
    pub(crate) stats: (u64, u64, u64),
    pub(crate) last_set: Option<u64>,
    deleted: BTreeSet<u64>,
}

impl Model {
    pub(crate) fn apply(&mut self, line: &str) {
        let line = line.trim_end();
        // libtest prints "test cache::child_process ... " before the child's first line.
        let line = line.rsplit("... ").next().unwrap_or(line);
        if let Some(op) = line.strip_prefix("try ") {
            self.pending = Some(op.to_owned());
            return;
        }
        let verb = line.split_whitespace().next().unwrap_or("");
        match verb {
            "set" | "del" | "clear" | "incr" | "batch" => {
                self.acked.apply(line);
                self.acks += 1;
                self.pending = None;
                if let Some(n) = line.strip_prefix("set ") {
                    self.last_set = n.parse().ok();
                }
                if let Some(n) = line.strip_prefix("del ") {
                    self.deleted.insert(n.parse().unwrap());
                }
            }
            "nodel" => self.pending = None,
            "fail" => {
                self.failures.push(line[5..].to_owned());
                self.pending = None;
            }
            "closed" | "close-failed" => self.closed = Some(line.to_owned()),
            "stats" => {
                let v: Vec<u64> = line[6..].split(' ').map(|x| x.parse().unwrap()).collect();
                self.stats = (v[0], v[1], v[2]);
            }
            "" => {}
            _ => self.saw.push(line.to_owned()),
        }
    }

    /// Every acknowledged operation is visible in the cache at `dir`; with `evicting`,
    /// entries may be gone (evicted) but nothing deleted is back, the newest entry is there
    /// and nothing reads back wrong.
    pub(crate) fn check(&self, dir: &Path, evicting: bool) {
        let mut maybe = self.acked.clone();
        if let Some(op) = &self.pending {
            maybe.apply(&op.replace("incr", &format!("incr {}", self.acked.counter + 1)));
        }
        let cache = Cache::open(CacheOptions::new(dir, "TestApp").size_limit(64 << 20)).unwrap();
        let mut wrong = Vec::new();
        let all: BTreeSet<u64> = self
            .acked
            .keys
            .keys()
            .chain(maybe.keys.keys())
            .copied()
            .collect();
        for n in all {
            let got = cache.get::<(u64, String)>(&format!("k{n}")).unwrap();
            if got.as_ref().is_some_and(|(m, _)| *m != n) {
                wrong.push(format!("k{n} holds {got:?}"));
                continue;
            }
            let present = got.is_some();
            let ok = |s: &State| s.keys.get(&n).copied().unwrap_or(false) == present;
            let fine = if evicting {
                // Only a wrongly present key (deleted, cleared) or a missing newest one.
                let allowed =
                    self.acked.keys.get(&n) == Some(&true) || maybe.keys.get(&n) == Some(&true);
                (!present || allowed) && (present || Some(n) != self.last_set)
            } else {
                ok(&self.acked) || ok(&maybe)
            };
            if !fine {
                wrong.push(format!("k{n} present={present}"));
            }
        }
        for (&n, &expect) in self.acked.batches.iter().chain(&maybe.batches) {
            let x = cache.contains(&format!("x{n}")).unwrap();
            let y = cache.contains(&format!("y{n}")).unwrap();
            if x != y {
                wrong.push(format!("batch {n} half applied: x={x} y={y}"));
            }
            let in_a = self.acked.batches.get(&n).copied().unwrap_or(false);
            let in_b = maybe.batches.get(&n).copied().unwrap_or(false);
            if !evicting && x != in_a && x != in_b {
                wrong.push(format!("batch {n} present={x}, expected {expect}"));
            }
        }
        if !evicting {
            let counter = cache.get::<i64>("counter").unwrap().unwrap_or(0);
            if counter != self.acked.counter && counter != maybe.counter {
                wrong.push(format!(
                    "counter {counter}, acknowledged {}",
                    self.acked.counter
                ));
            }
        }
        assert!(
            wrong.is_empty(),
            "{} wrong after reopen (e.g. {:?}); {} acks, pending {:?}, {} failures: {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(8)],
            self.acks,
            self.pending,
            self.failures.len(),
            self.failures.first()
        );
        cache.close().unwrap();
    }
}

/// A running child.
pub(crate) struct Run {
    child: Child,
    out: BufReader<ChildStdout>,
    pub(crate) model: Model,
}

impl Run {
    pub(crate) fn start(dir: &Path, mode: &str, nofile: Option<u32>) -> Self {
        let exe = std::env::current_exe().unwrap();
        let mut cmd = match nofile {
            // A shell lowers the limit and then becomes the test binary.
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(exe);
                c
            }
            None => Command::new(exe),
        };
        cmd.args([
            "--exact",
            "cache::child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HASSETTE_CACHE_CHILD", "ops")
        .env("HASSETTE_CACHE_CHILD_DIR", dir)
        .env("HASSETTE_CACHE_CHILD_ARG", mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Self {
            child,
            out,
            model: Model::default(),
        }
    }

    /// Reads lines until `done` says so (panics if the child ends or stalls first).
    pub(crate) fn until(&mut self, what: &str, mut done: impl FnMut(&Model) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut line = String::new();
        while !done(&self.model) {
            line.clear();
            let n = self.out.read_line(&mut line).unwrap();
            assert!(
                n > 0 && Instant::now() < deadline,
                "child ended or stalled waiting for {what}; {} acks, stats (evictions, \
                 compactions, log waits) {:?}, seen {:?}, failures {:?}",
                self.model.acks,
                self.model.stats,
                self.model.saw,
                self.model.failures.last()
            );
            self.model.apply(&line);
        }
    }

    /// SIGKILL; the lines written before it count.
    pub(crate) fn kill(mut self) -> Model {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let mut line = String::new();
        while self.out.read_line(&mut line).unwrap_or(0) > 0 {
            self.model.apply(&line);
            line.clear();
        }
        self.model
    }

    /// Asks for a clean close and waits for it.
    pub(crate) fn stop(mut self, dir: &Path) -> Model {
        std::fs::write(dir.with_extension("stop"), b"").unwrap();
        self.until("a clean close", |m| m.closed.is_some());
        self.child.wait().unwrap();
        let closed = self.model.closed.clone().unwrap_or_default();
        assert_eq!(closed, "closed", "the clean close failed");
        self.model
    }
}
