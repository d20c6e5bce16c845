//! Paddock master (stub).
