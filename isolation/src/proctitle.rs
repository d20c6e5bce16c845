//! What `ps` shows: a process forked from another (not exec'd) still has
//! its parent's argv. [`set_argv1`] rewrites argv\[1\] in the process's
//! own argv area, as setproctitle does.

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
