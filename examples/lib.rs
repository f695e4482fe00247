//! Shared helpers for the runnable scenarios in this directory.
