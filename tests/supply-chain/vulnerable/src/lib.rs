//! Never built: cargo deny reads the lock file only.
