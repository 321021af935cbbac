//! Platform tests: start the real service binaries.
