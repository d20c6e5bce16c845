//! Aligned text tables and human units (MiB, seconds, percentages, ages),
//! and writing to stdout without panicking on a closed pipe.

use std::io::Write;

use serde_json::Value;

/// Columns separated by two spaces, each as wide as its widest cell; no
/// trailing spaces.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let n = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, w) in widths.iter().enumerate() {
                let c = cells.get(i).map(String::as_str).unwrap_or("");
                s.push_str(c);
                if i + 1 < n {
                    s.extend(std::iter::repeat_n(' ', w - c.chars().count() + 2));
                }
            }
            s.truncate(s.trim_end().len());
            s.push('\n');
            s
        };
        let mut out = line(&self.header);
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub fn emit(text: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(format!("cannot write to stdout: {e}")),
    }
}

/// Pretty JSON on stdout.
pub fn emit_json(v: &Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
    emit(&(text + "\n"))
}

/// A JSON number as f64 (0 when absent).
pub fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// A JSON string (or "" when absent).
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// 2 -> "2", 0.5 -> "0.5", 0.1 + 0.2 -> "0.3", 1.005 -> "1".
pub fn number(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// "used/total", e.g. "0.5/2".
pub fn fraction(used: f64, total: f64) -> String {
    format!("{}/{}", number(used), number(total))
}

/// 1536 -> "1.5 KiB".
pub fn bytes(n: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} {}", units[i])
    } else {
        format!("{v:.1} {}", units[i])
    }
}

/// 1.234 -> "1.23 s".
pub fn seconds(s: f64) -> String {
    format!("{s:.2} s")
}

/// part/whole as "12.5%", or "-" when whole is 0.
pub fn percent(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{:.1}%", 100.0 * part / whole)
    } else {
        "-".into()
    }
}

/// A compact age: "42s", "17m", "5h", "3d" ("-" when unknown).
pub fn age(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "-".into();
    }
    let s = secs as u64;
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// "yes" / "no".
pub fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_without_trailing_spaces() {
        let mut t = Table::new(&["A", "LONGER", "C"]);
        t.row(vec!["xxxx".into(), "y".into(), "".into()]);
        t.row(vec!["z".into()]);
        assert_eq!(t.render(), "A     LONGER  C\nxxxx  y\nz\n");
    }

    #[test]
    fn wide_characters_count_once() {
        let mut t = Table::new(&["N", "X"]);
        t.row(vec!["é".into(), "1".into()]);
        assert_eq!(t.render(), "N  X\né  1\n");
    }

    #[test]
    fn human_bytes() {
        assert_eq!(bytes(0.0), "0 B");
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(64.0 * 1048576.0), "64.0 MiB");
        assert_eq!(bytes(3.0 * 1073741824.0), "3.0 GiB");
    }

    #[test]
    fn numbers_lose_noise() {
        assert_eq!(number(2.0), "2");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(0.1 + 0.2), "0.3");
        assert_eq!(number(1024.0), "1024");
        assert_eq!(number(-0.0001), "0");
        assert_eq!(fraction(0.5, 2.0), "0.5/2");
    }

    #[test]
    fn percentages_and_seconds() {
        assert_eq!(percent(1.0, 8.0), "12.5%");
        assert_eq!(percent(1.0, 0.0), "-");
        assert_eq!(seconds(1.234), "1.23 s");
    }

    #[test]
    fn ages_are_compact() {
        assert_eq!(age(5.9), "5s");
        assert_eq!(age(119.0), "119s");
        assert_eq!(age(600.0), "10m");
        assert_eq!(age(3.0 * 3600.0), "3h");
        assert_eq!(age(5.0 * 86400.0), "5d");
        assert_eq!(age(-1.0), "-");
    }
}
