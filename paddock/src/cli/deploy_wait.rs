//! `--wait`: follows a Marathon deployment in `/v2/deployments` (at most
//! one poll every 500 ms, against a deadline) until it is gone, showing its
//! progress: one status line redrawn in place on a terminal, a line per
//! change otherwise. The pieces that decide what to print are pure.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::marathon::{app_path, expect_ok};
use super::service::Service;
use super::table::text;

/// The least time between two polls.
pub const POLL: Duration = Duration::from_millis(500);
/// At most this many apps' counts are fetched per poll.
const MAX_APPS: usize = 4;

/// `--wait` and `--timeout`, shared by every deploying command.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct WaitArgs {
    /// Follow the deployment until it has finished.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up (exit 1) after this long.
    #[arg(long, default_value = "300s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
}

impl Default for WaitArgs {
    fn default() -> Self {
        WaitArgs {
            wait: false,
            timeout: Duration::from_secs(300),
        }
    }
}

/// An app's instance counts, for the status line.
#[derive(Debug, Clone, PartialEq)]
pub struct AppCount {
    pub id: String,
    pub running: u64,
    pub wanted: u64,
    /// Only for apps with health checks.
    pub healthy: Option<u64>,
}

impl AppCount {
    /// From an `{"app": …}` (or bare app) document.
    pub fn of(app: &Value) -> AppCount {
        let a = if app["app"].is_object() {
            &app["app"]
        } else {
            app
        };
        let has_checks = a["healthChecks"].as_array().is_some_and(|h| !h.is_empty());
        AppCount {
            id: text(&a["id"]),
            running: a["tasksRunning"].as_u64().unwrap_or(0),
            wanted: a["instances"].as_u64().unwrap_or(0),
            healthy: has_checks.then(|| a["tasksHealthy"].as_u64().unwrap_or(0)),
        }
    }
}

/// The deployment with this id in a `/v2/deployments` list.
pub fn find<'a>(deployments: &'a Value, id: &str) -> Option<&'a Value> {
    deployments.as_array()?.iter().find(|d| d["id"] == id)
}

/// The apps a deployment changes.
pub fn affected_apps(d: &Value) -> Vec<String> {
    d["affectedApps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}

/// "ScaleApplication /web, StartApplication /db" from `currentActions`.
pub fn actions(d: &Value) -> String {
    d["currentActions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let target = a["app"].as_str().or(a["pod"].as_str()).unwrap_or("");
            format!("{} {target}", text(&a["action"]))
                .trim()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// "step 1/2: ScaleApplication /web; /web 2/3 running, 1 healthy".
pub fn describe(d: &Value, counts: &[AppCount]) -> String {
    let mut line = format!(
        "step {}/{}",
        d["currentStep"].as_u64().unwrap_or(0),
        d["totalSteps"].as_u64().unwrap_or(0)
    );
    let acts = actions(d);
    if !acts.is_empty() {
        line.push_str(": ");
        line.push_str(&acts);
    }
    for c in counts {
        line.push_str(&format!("; {} {}/{} running", c.id, c.running, c.wanted));
        if let Some(h) = c.healthy {
            line.push_str(&format!(", {h} healthy"));
        }
    }
    line
}

/// Another deployment that now changes one of `apps`: ours was cancelled
/// or rolled back (a rollback is a new deployment) rather than finished.
pub fn rival(deployments: &Value, ours: &str, apps: &[String]) -> Option<String> {
    deployments
        .as_array()?
        .iter()
        .filter(|d| d["id"] != ours)
        .find(|d| affected_apps(d).iter().any(|a| apps.contains(a)))
        .map(|d| text(&d["id"]))
}

/// Decides what to write as the status changes: on a terminal, the line
/// is redrawn in place (with the elapsed time); otherwise each new status
/// is one line and repeats are not written.
#[derive(Debug)]
pub struct Redraw {
    pub tty: bool,
    /// The terminal's width, to keep a redrawn line from wrapping.
    pub width: usize,
    last: Option<String>,
    drawn: bool,
}

impl Redraw {
    pub fn new(tty: bool, width: usize) -> Redraw {
        Redraw {
            tty,
            width: width.max(20),
            last: None,
            drawn: false,
        }
    }

    /// What to write for this status, if anything.
    pub fn update(&mut self, line: &str, elapsed: Duration) -> Option<String> {
        if self.tty {
            let full = format!("{line} ({}s)", elapsed.as_secs());
            let shown: String = full.chars().take(self.width - 1).collect();
            self.drawn = true;
            self.last = Some(line.to_string());
            return Some(format!("\r\x1b[2K{shown}"));
        }
        if self.last.as_deref() == Some(line) {
            return None;
        }
        self.last = Some(line.to_string());
        Some(format!("{line}\n"))
    }

    /// The last line written, after a status line (ends the redrawn one).
    pub fn finish(&mut self, line: &str) -> String {
        let clear = if self.tty && self.drawn {
            "\r\x1b[2K"
        } else {
            ""
        };
        self.drawn = false;
        format!("{clear}{line}\n")
    }

    pub fn last(&self) -> Option<&str> {
        self.last.as_deref()
    }
}

/// The width of the terminal on stdout (or stderr), else 80.
fn terminal_width(fd: i32) -> usize {
    // SAFETY: TIOCGWINSZ only writes a `winsize` into the struct we pass.
    let mut ws: nix::libc::winsize = unsafe { std::mem::zeroed() };
    let r = unsafe { nix::libc::ioctl(fd, nix::libc::TIOCGWINSZ, &mut ws) };
    if r == 0 && ws.ws_col > 0 {
        ws.ws_col as usize
    } else {
        80
    }
}

/// Where progress goes: stdout, or stderr when stdout carries JSON.
struct Out {
    stderr: bool,
}

impl Out {
    fn write(&self, s: &str) {
        // Progress is best effort: a closed pipe must not fail the wait.
        if self.stderr {
            let mut e = std::io::stderr().lock();
            let _ = e.write_all(s.as_bytes()).and_then(|()| e.flush());
        } else {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(s.as_bytes()).and_then(|()| o.flush());
        }
    }
}

/// How a deployment ended, as Marathon's event stream said.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    Succeeded(String),
    /// The id and Marathon's reason ("The deployment was canceled").
    Failed(String, Option<String>),
}

impl Ended {
    fn id(&self) -> &str {
        match self {
            Ended::Succeeded(id) | Ended::Failed(id, _) => id,
        }
    }
}

/// A `deployment_success` / `deployment_failed` event from one SSE
/// `data:` payload; other events are `None`.
pub fn parse_event(data: &str) -> Option<Ended> {
    let v: Value = serde_json::from_str(data).ok()?;
    let id = v["id"].as_str().or(v["plan"]["id"].as_str())?.to_string();
    match v["eventType"].as_str()? {
        "deployment_success" => Some(Ended::Succeeded(id)),
        "deployment_failed" => Some(Ended::Failed(id, v["reason"].as_str().map(str::to_string))),
        _ => None,
    }
}

/// Deployment outcomes from `/v2/events`, read by a thread. It is opened
/// before the change is sent, so the outcome cannot be missed; without it
/// (a server without events) `--wait` relies on polling alone, and a
/// deployment force-stopped by someone else then looks finished.
pub struct Watch {
    rx: std::sync::mpsc::Receiver<Ended>,
    open: std::cell::Cell<bool>,
}

impl Watch {
    pub fn open(m: &Service) -> Option<Watch> {
        let r = m
            .stream("/v2/events?event_type=deployment_success&event_type=deployment_failed")
            .ok()?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                let Some(e) = line
                    .strip_prefix("data:")
                    .and_then(|d| parse_event(d.trim()))
                else {
                    continue;
                };
                if tx.send(e).is_err() {
                    break;
                }
            }
        });
        Some(Watch {
            rx,
            open: std::cell::Cell::new(true),
        })
    }

    /// Until the stream ends.
    pub fn is_open(&self) -> bool {
        self.open.get()
    }

    /// The outcome of `id`, if the stream tells it within `wait`.
    pub fn outcome(&self, id: &str, wait: Duration) -> Option<Ended> {
        use std::sync::mpsc::RecvTimeoutError;
        let until = Instant::now() + wait;
        while self.is_open() {
            match self
                .rx
                .recv_timeout(until.saturating_duration_since(Instant::now()))
            {
                Ok(e) if e.id() == id => return Some(e),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => self.open.set(false),
            }
        }
        None
    }
}

/// What one poll saw.
enum Poll {
    Running(String, Vec<String>),
    Gone(Option<String>),
}

fn poll(m: &Service, id: &str, apps: &[String]) -> Result<Poll, String> {
    let r = expect_ok(m.get("/v2/deployments")?, false)?;
    let Some(d) = find(&r.body, id) else {
        return Ok(Poll::Gone(rival(&r.body, id, apps)));
    };
    let affected = affected_apps(d);
    let counts: Vec<AppCount> = affected
        .iter()
        .take(MAX_APPS)
        .filter_map(|a| {
            let r = m.get(&app_path(a)).ok().filter(|r| r.ok())?;
            Some(AppCount::of(&r.body))
        })
        .collect();
    Ok(Poll::Running(describe(d, &counts), affected))
}

/// Follows deployment `id` (of `apps`) until it is gone or `timeout`
/// passes. Progress goes to stderr when `json` (stdout is for the result).
pub fn follow(
    m: &Service,
    id: &str,
    apps: &[String],
    timeout: Duration,
    json: bool,
    watch: Option<&Watch>,
) -> Result<(), String> {
    let out = Out { stderr: json };
    let tty = if json {
        std::io::stderr().is_terminal()
    } else {
        std::io::stdout().is_terminal()
    };
    let mut draw = Redraw::new(tty, terminal_width(if json { 2 } else { 1 }));
    let start = Instant::now();
    let deadline = start + timeout;
    let mut apps = apps.to_vec();
    let short: String = id.chars().take(8).collect();
    let finished = |draw: &mut Redraw| {
        let secs = start.elapsed().as_secs_f64();
        out.write(&draw.finish(&format!("deployment {short} finished in {secs:.1}s")));
        Ok(())
    };
    let failed = |draw: &mut Redraw, reason: Option<String>| {
        out.write(&draw.finish(&format!("deployment {short} failed")));
        let why = reason.unwrap_or_else(|| "no reason given".into());
        Err(format!("deployment {id} failed: {why}"))
    };
    loop {
        let polled_at = Instant::now();
        let mut last_error = None;
        let mut polled = poll(m, id, &apps);
        if let (Ok(Poll::Gone(_)), Some(w)) = (&polled, watch) {
            // Gone from the list: the stream says how it ended (its event
            // may trail the removal a little).
            match w.outcome(id, Duration::from_secs(1)) {
                Some(Ended::Failed(_, reason)) => return failed(&mut draw, reason),
                Some(Ended::Succeeded(_)) => polled = Ok(Poll::Gone(None)),
                None => {}
            }
        }
        match polled {
            Ok(Poll::Gone(None)) => return finished(&mut draw),
            Ok(Poll::Gone(Some(other))) => {
                out.write(&draw.finish(&format!("deployment {short} stopped")));
                return Err(format!(
                    "deployment {id} did not finish: deployment {other} now changes {} \
                     (it was cancelled or rolled back)",
                    apps.join(", ")
                ));
            }
            Ok(Poll::Running(line, affected)) => {
                if !affected.is_empty() {
                    apps = affected;
                }
                if let Some(s) = draw.update(&line, start.elapsed()) {
                    out.write(&s);
                }
            }
            // Marathon may be restarting: keep trying until the deadline.
            Err(e) => last_error = Some(e),
        }
        if Instant::now() >= deadline {
            let why = last_error
                .or_else(|| draw.last().map(str::to_string))
                .unwrap_or_default();
            out.write(&draw.finish(&format!("deployment {short} still running")));
            return Err(format!(
                "deployment {id} did not finish within {}: {why} (see paddock deployments)",
                humantime::format_duration(timeout)
            ));
        }
        // Until the next poll, listen to the stream: an outcome shows at once.
        let next = (polled_at + POLL).min(deadline);
        if let Some(w) = watch.filter(|w| w.is_open()) {
            match w.outcome(id, next.saturating_duration_since(Instant::now())) {
                Some(Ended::Failed(_, reason)) => return failed(&mut draw, reason),
                Some(Ended::Succeeded(_)) => return finished(&mut draw),
                None => {}
            }
        }
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployments() -> Value {
        json!([
            {"id": "d1", "version": "2026-01-01T00:00:00.000Z", "affectedApps": ["/web"],
             "affectedPods": [], "steps": [{"actions": [{"action": "ScaleApplication", "app": "/web"}]}],
             "currentActions": [{"action": "ScaleApplication", "app": "/web", "readinessCheckResults": []}],
             "currentStep": 1, "totalSteps": 1},
            {"id": "d2", "affectedApps": ["/db", "/api"],
             "currentActions": [{"action": "StartApplication", "app": "/db"},
                                {"action": "RestartApplication", "app": "/api"}],
             "currentStep": 2, "totalSteps": 3}
        ])
    }

    #[test]
    fn describes_steps_actions_and_counts() {
        let ds = deployments();
        let d1 = find(&ds, "d1").unwrap();
        let counts = [AppCount {
            id: "/web".into(),
            running: 2,
            wanted: 3,
            healthy: Some(1),
        }];
        assert_eq!(
            describe(d1, &counts),
            "step 1/1: ScaleApplication /web; /web 2/3 running, 1 healthy"
        );
        let d2 = find(&ds, "d2").unwrap();
        assert_eq!(
            describe(d2, &[]),
            "step 2/3: StartApplication /db, RestartApplication /api"
        );
        assert!(find(&ds, "d9").is_none());
        assert_eq!(affected_apps(d2), ["/db", "/api"]);
    }

    #[test]
    fn counts_show_health_only_with_checks() {
        let c = AppCount::of(
            &json!({"app": {"id": "/a", "instances": 3, "tasksRunning": 1,
                                              "tasksHealthy": 0, "healthChecks": []}}),
        );
        assert_eq!(c.healthy, None);
        assert_eq!((c.running, c.wanted), (1, 3));
        let c = AppCount::of(&json!({"id": "/a", "instances": 1, "tasksRunning": 1,
                                     "tasksHealthy": 1, "healthChecks": [{"protocol": "TCP"}]}));
        assert_eq!(c.healthy, Some(1));
    }

    #[test]
    fn a_rival_deployment_on_the_same_app_means_ours_did_not_finish() {
        let ds = deployments();
        assert_eq!(rival(&ds, "d9", &["/api".into()]).as_deref(), Some("d2"));
        assert_eq!(rival(&ds, "d2", &["/api".into()]), None);
        assert_eq!(rival(&ds, "d9", &["/other".into()]), None);
    }

    #[test]
    fn deployment_events_parse() {
        assert_eq!(
            parse_event(r#"{"eventType":"deployment_success","id":"d1","plan":{"id":"d1"}}"#),
            Some(Ended::Succeeded("d1".into()))
        );
        assert_eq!(
            parse_event(
                r#"{"eventType":"deployment_failed","plan":{"id":"d2"},"reason":"The deployment was canceled"}"#
            ),
            Some(Ended::Failed(
                "d2".into(),
                Some("The deployment was canceled".into())
            ))
        );
        assert_eq!(
            parse_event(r#"{"eventType":"deployment_info","id":"d1"}"#),
            None
        );
        assert_eq!(parse_event(r#"{"eventType":"deployment_failed"}"#), None);
        assert_eq!(parse_event("not json"), None);
    }

    #[test]
    fn pipes_get_a_line_per_change() {
        let mut r = Redraw::new(false, 80);
        let t = Duration::from_secs(1);
        assert_eq!(r.update("a", t).as_deref(), Some("a\n"));
        assert_eq!(r.update("a", t * 2), None);
        assert_eq!(r.update("b", t * 3).as_deref(), Some("b\n"));
        assert_eq!(r.finish("done"), "done\n");
    }

    #[test]
    fn terminals_get_one_line_redrawn_in_place() {
        let mut r = Redraw::new(true, 30);
        let t = Duration::from_secs(2);
        assert_eq!(r.update("a", t).as_deref(), Some("\r\x1b[2Ka (2s)"));
        // The same status is redrawn (the clock moves).
        assert_eq!(r.update("a", t * 2).as_deref(), Some("\r\x1b[2Ka (4s)"));
        let long = "x".repeat(100);
        let shown = r.update(&long, t).unwrap();
        assert_eq!(shown.chars().count(), "\r\x1b[2K".chars().count() + 29);
        assert_eq!(r.finish("done"), "\r\x1b[2Kdone\n");
        assert_eq!(r.last(), Some(long.as_str()));
    }
}
