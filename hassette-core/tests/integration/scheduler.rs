//! Scheduler tests (issue 5).
