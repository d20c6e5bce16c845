//! The benches' command line: `--name value` pairs, each with a default.

/// The value after `name` on the command line, or `None`.
fn value(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// The number after `name`; `default` when it is absent or not a number.
pub fn arg(name: &str, default: usize) -> usize {
    value(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The word after `name`; `default` when it is absent.
pub fn arg_str(name: &str, default: &str) -> String {
    value(name).unwrap_or_else(|| default.to_string())
}
