//! Paddock agent (stub).
