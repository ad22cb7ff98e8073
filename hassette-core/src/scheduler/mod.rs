//! Timers (issue 5).
