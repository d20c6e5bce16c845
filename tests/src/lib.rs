//! Helpers for integration tests (stub).
