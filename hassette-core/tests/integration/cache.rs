//! Cache tests (issue 3).
