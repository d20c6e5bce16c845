//! What a process that was forked into another role (the zygote becoming
//! init, a launcher's child becoming an executor), not exec'd, must do
//! itself: take on its new environment, and show its new name in `ps`,
//! where it would otherwise still have its parent's argv.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

/// Replaces this process's whole environment with `env`, for a forked
/// child that takes on another program's role (an executor, an init).
/// Only for a single-threaded process.
pub fn take_environment(env: &[(OsString, OsString)]) -> Result<(), String> {
    for (k, v) in env {
        if k.is_empty() || k.as_bytes().iter().any(|b| *b == b'=' || *b == 0) {
            return Err(format!("bad environment name {k:?}"));
        }
        if v.as_bytes().contains(&0) {
            return Err(format!("the value of {k:?} contains a NUL byte"));
        }
    }
    for (k, _) in std::env::vars_os() {
        std::env::remove_var(k);
    }
    for (k, v) in env {
        std::env::set_var(k, v);
    }
    Ok(())
}

/// Replaces argv\[1\] `from` with `to` (no longer than `from`) in
/// `/proc/self/cmdline`; does nothing if argv\[1\] is not `from`.
pub fn set_argv1(from: &str, to: &str) {
    if to.len() > from.len() {
        return;
    }
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    let Some((_, after)) = stat.rsplit_once(')') else {
        return;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    // arg_start and arg_end are fields 48 and 49; index 0 is field 3.
    let (Some(start), Some(end)) = (
        fields.get(45).and_then(|v| v.parse::<usize>().ok()),
        fields.get(46).and_then(|v| v.parse::<usize>().ok()),
    ) else {
        return;
    };
    if end <= start || end - start > 1 << 16 {
        return;
    }
    // SAFETY: [start, end) is this process's own argv area (read from
    // /proc/self/stat), mapped and writable, and nothing else reads it.
    let area = unsafe { std::slice::from_raw_parts_mut(start as *mut u8, end - start) };
    let Some(nul) = area.iter().position(|b| *b == 0) else {
        return;
    };
    let arg1 = &mut area[nul + 1..];
    let is_from = arg1.starts_with(from.as_bytes()) && arg1.get(from.len()).is_none_or(|b| *b == 0);
    if is_from {
        arg1[..from.len()].fill(0);
        arg1[..to.len()].copy_from_slice(to.as_bytes());
    }
}
