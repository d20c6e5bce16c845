//! `paddock task logs ID [-f] [--stderr] [--tail N]`: reads the task's
//! sandbox `stdout`/`stderr` through its agent's `/files/read`, and with
//! `-f` polls every second until the task has ended and the file has
//! stopped growing.

use std::io::Write;
use std::time::Duration;

use super::client::{percent_encode, Client};
use super::sandbox;
use super::tasks::is_terminal;

/// The most asked of `/files/read` at once (the agent's own cap).
const CHUNK: u64 = 1 << 20;
/// How often `-f` looks for more.
const POLL: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct Options {
    pub follow: bool,
    pub stderr: bool,
    pub tail: Option<usize>,
}

/// The byte index where the last `n` lines of `data` start (a final
/// newline does not start an empty line).
pub fn tail_start(data: &str, n: usize) -> usize {
    if n == 0 {
        return data.len();
    }
    let body = data.strip_suffix('\n').unwrap_or(data);
    let mut seen = 0;
    for (i, b) in body.bytes().enumerate().rev() {
        if b == b'\n' {
            seen += 1;
            if seen == n {
                return i + 1;
            }
        }
    }
    0
}

/// Writes to stdout; false once the reader has gone (`| head`).
fn write_out(text: &str) -> Result<bool, String> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(format!("cannot write to stdout: {e}")),
    }
}

struct File<'a> {
    c: &'a Client,
    agent: String,
    path: String,
}

impl File<'_> {
    /// `(data, offset it starts at)`; offset -1 asks for the size only.
    fn read(&self, offset: i64, length: u64) -> Result<(String, u64), String> {
        let v = self.c.agent_get(
            &self.agent,
            &format!(
                "/files/read?path={}&offset={offset}&length={length}",
                percent_encode(&self.path, true)
            ),
        )?;
        let data = v["data"].as_str().unwrap_or_default().to_string();
        let at = v["offset"].as_u64().unwrap_or(offset.max(0) as u64);
        Ok((data, at))
    }
}

pub fn show(c: &Client, id: &str, o: &Options) -> Result<(), String> {
    let (_, p) = sandbox::locate(c, id)?;
    let name = if o.stderr { "stderr" } else { "stdout" };
    let file = File {
        c,
        agent: p.agent,
        path: format!("{}/{name}", p.directory.trim_end_matches('/')),
    };
    let mut offset = 0u64;
    if let Some(n) = o.tail {
        let (_, size) = file.read(-1, 0)?;
        let start = size.saturating_sub(CHUNK);
        let (data, at) = file.read(start as i64, CHUNK)?;
        if !write_out(&data[tail_start(&data, n)..])? {
            return Ok(());
        }
        offset = at + data.len() as u64;
    }
    let mut ended = false;
    loop {
        let (data, at) = file.read(offset as i64, CHUNK)?;
        if !write_out(&data)? {
            return Ok(());
        }
        offset = at + data.len() as u64;
        if !data.is_empty() {
            continue;
        }
        if !o.follow || ended {
            return Ok(());
        }
        // The file has stopped growing: has the task ended? If so, read
        // once more for anything written just before it did.
        let task = c.task(id)?;
        if is_terminal(task["state"].as_str().unwrap_or_default()) {
            ended = true;
            continue;
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_count_lines_from_the_end() {
        let d = "a\nb\nc\n";
        assert_eq!(&d[tail_start(d, 2)..], "b\nc\n");
        assert_eq!(&d[tail_start(d, 1)..], "c\n");
        assert_eq!(&d[tail_start(d, 3)..], d);
        assert_eq!(&d[tail_start(d, 10)..], d);
        assert_eq!(&d[tail_start(d, 0)..], "");
        let partial = "a\nb\nhalf";
        assert_eq!(&partial[tail_start(partial, 1)..], "half");
        assert_eq!(&partial[tail_start(partial, 2)..], "b\nhalf");
        assert_eq!(tail_start("", 3), 0);
    }
}
