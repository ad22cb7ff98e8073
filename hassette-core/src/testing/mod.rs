//! Test support: the fake Home Assistant (issue 4) and the app test harness.
