//! The operator CLI: reads the master's and agents' Mesos-shaped endpoints,
//! drives Marathon (`app …`, `deployments`) and Chronos (`job …`) over
//! their REST APIs, and prints aligned tables for people or JSON (`--json`)
//! for scripts. Errors are one line on stderr (`paddock: ...`) and exit
//! code 1.

mod agents;
mod app_def;
mod apps;
mod client;
mod deploy_wait;
#[cfg(test)]
mod fake_http;
mod frameworks;
mod images;
mod job_graph;
mod job_schedule;
mod jobs;
mod logs;
mod marathon;
mod sandbox;
mod service;
mod stats;
mod table;
mod tasks;
mod top;

use std::path::PathBuf;

use clap::{Args, Subcommand};

use client::Client;

/// Options every CLI command takes (before or after the subcommand).
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// The master, HOST:PORT (an http:// prefix is accepted).
    #[arg(
        long,
        env = "PADDOCK_MASTER",
        default_value = client::DEFAULT_MASTER,
        global = true,
        value_name = "HOST:PORT"
    )]
    pub master: String,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Just `--json`, for commands that do not talk to the master.
#[derive(Args, Debug, Clone)]
pub struct Output {
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Where Marathon is.
#[derive(Args, Debug, Clone)]
pub struct MarathonAddr {
    /// Marathon, HOST:PORT (an http:// prefix is accepted).
    #[arg(
        long = "marathon",
        env = "PADDOCK_MARATHON",
        default_value = service::DEFAULT_MARATHON,
        global = true,
        value_name = "HOST:PORT"
    )]
    pub addr: String,
}

/// Where Chronos is.
#[derive(Args, Debug, Clone)]
pub struct ChronosAddr {
    /// Chronos, HOST:PORT (an http:// prefix is accepted).
    #[arg(
        long = "chronos",
        env = "PADDOCK_CHRONOS",
        default_value = service::DEFAULT_CHRONOS,
        global = true,
        value_name = "HOST:PORT"
    )]
    pub addr: String,
}

#[derive(Subcommand, Debug)]
pub enum CliCommand {
    /// List the agents with their resources (used/total).
    Agents {
        #[command(flatten)]
        global: Global,
    },
    /// List the frameworks with their allocations.
    Frameworks {
        #[command(flatten)]
        global: Global,
    },
    /// List tasks, oldest first.
    Tasks {
        #[command(flatten)]
        global: Global,
        /// Only tasks in this state (TASK_RUNNING, or just running).
        #[arg(long, value_name = "STATE")]
        state: Option<String>,
        /// Only tasks of this framework (id or name).
        #[arg(long, value_name = "FRAMEWORK")]
        framework: Option<String>,
        /// Only tasks on this agent (id or hostname).
        #[arg(long, value_name = "AGENT")]
        agent: Option<String>,
    },
    /// Look at or kill one task.
    Task {
        #[command(flatten)]
        global: Global,
        #[command(subcommand)]
        command: TaskCommand,
    },
    /// Long-running apps on Marathon: run, list, scale, restart, destroy.
    App {
        #[command(flatten)]
        output: Output,
        #[command(flatten)]
        marathon: MarathonAddr,
        #[command(subcommand)]
        command: AppCommand,
    },
    /// Marathon's running deployments.
    Deployments {
        #[command(flatten)]
        output: Output,
        #[command(flatten)]
        marathon: MarathonAddr,
    },
    /// An agent's image store: list, pull, rm, gc, import.
    Image {
        #[command(flatten)]
        output: Output,
        #[command(flatten)]
        agent: images::AgentAddr,
        #[command(subcommand)]
        command: images::ImageCommand,
    },
    /// Live resource usage of every task in the cluster, busiest first.
    Top {
        #[command(flatten)]
        global: Global,
        #[command(flatten)]
        top: top::TopArgs,
    },
    /// Scheduled and dependent jobs on Chronos.
    Job {
        #[command(flatten)]
        global: Global,
        #[command(flatten)]
        chronos: ChronosAddr,
        #[command(subcommand)]
        command: JobCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum AppCommand {
    /// Create an app, or replace its definition (POST, or PUT if it exists).
    Run {
        /// The app definition (Marathon JSON); `-` reads stdin. Flags
        /// override its fields.
        #[arg(value_name = "FILE.json")]
        file: Option<PathBuf>,
        #[command(flatten)]
        flags: app_def::AppFlags,
        /// Cancel a deployment that holds the app.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        wait: deploy_wait::WaitArgs,
    },
    /// List the apps with their instances, health and status.
    List,
    /// Show one app and its tasks.
    Show {
        /// The app id, e.g. /prod/web.
        id: String,
    },
    /// Change the number of instances.
    Scale {
        id: String,
        /// The new number of instances.
        instances: u64,
        /// Cancel a deployment that holds the app.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        wait: deploy_wait::WaitArgs,
    },
    /// Replace every task, following the app's upgrade strategy.
    Restart {
        id: String,
        /// Cancel a deployment that holds the app.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        wait: deploy_wait::WaitArgs,
    },
    /// Stop all tasks and remove the app.
    Destroy {
        id: String,
        /// Cancel a deployment that holds the app (Marathon's default).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        wait: deploy_wait::WaitArgs,
    },
    /// List an app's tasks.
    Tasks { id: String },
    /// List an app's versions, newest first.
    Versions { id: String },
    /// Go back to an earlier version (one of `app versions ID`).
    Rollback {
        id: String,
        version: String,
        /// Cancel a deployment that holds the app.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        wait: deploy_wait::WaitArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum JobCommand {
    /// Create or replace a job from a Chronos job file (`-` reads stdin).
    Add {
        #[arg(value_name = "FILE.json")]
        file: PathBuf,
    },
    /// List the jobs with their schedule, next run and last status.
    List,
    /// Show one job.
    Show { name: String },
    /// Run a job now.
    Run {
        name: String,
        /// Arguments for this run (a non-shell job's argv).
        #[arg(long)]
        arguments: Option<String>,
    },
    /// A job's run history, newest first.
    Runs { name: String },
    /// Print a run's stdout (or stderr) from its sandbox.
    Logs {
        name: String,
        /// `#` from `job runs` (1 = newest), a scheduled time or a task id;
        /// the newest run with a task when left out.
        run: Option<String>,
        /// Keep printing as the file grows, until the task ends.
        #[arg(short, long)]
        follow: bool,
        /// Show stderr instead of stdout.
        #[arg(long)]
        stderr: bool,
        /// Start with (about) the last N lines.
        #[arg(long, value_name = "N")]
        tail: Option<usize>,
    },
    /// Delete a job (its children are rewired as Chronos does).
    Delete { name: String },
    /// The dependency graph as an indented tree.
    Graph,
}

#[derive(Subcommand, Debug)]
pub enum TaskCommand {
    /// Print a task's stdout (or stderr) from its sandbox.
    Logs {
        /// The task id.
        id: String,
        /// Keep printing as the file grows, until the task ends (or Ctrl-C).
        #[arg(short, long)]
        follow: bool,
        /// Show stderr instead of stdout.
        #[arg(long)]
        stderr: bool,
        /// Start with (about) the last N lines.
        #[arg(long, value_name = "N")]
        tail: Option<usize>,
    },
    /// Show a running task's resource usage (cgroup statistics).
    Stats {
        /// The task id.
        id: String,
    },
    /// Kill a task (its framework sees TASK_KILLED).
    Kill {
        /// The task id.
        id: String,
    },
}

/// Runs one CLI command; the process exits with the returned code.
pub fn run(cmd: CliCommand) -> i32 {
    match execute(cmd) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("paddock: {e}");
            1
        }
    }
}

/// Runs a command; the error is one line.
fn execute(cmd: CliCommand) -> Result<(), String> {
    match cmd {
        CliCommand::Agents { global } => agents::list(&Client::new(&global.master)?, global.json),
        CliCommand::Frameworks { global } => {
            frameworks::list(&Client::new(&global.master)?, global.json)
        }
        CliCommand::Image {
            output,
            agent,
            command,
        } => images::run(&agent.addr, command, output.json),
        CliCommand::Top { global, top } => {
            top::run(&Client::new(&global.master)?, &top, global.json)
        }
        CliCommand::Tasks {
            global,
            state,
            framework,
            agent,
        } => tasks::list(
            &Client::new(&global.master)?,
            global.json,
            &tasks::Filter {
                state,
                framework,
                agent,
            },
        ),
        CliCommand::Task { global, command } => {
            let c = Client::new(&global.master)?;
            match command {
                TaskCommand::Logs {
                    id,
                    follow,
                    stderr,
                    tail,
                } => logs::show(
                    &c,
                    &id,
                    &logs::Options {
                        follow,
                        stderr,
                        tail,
                    },
                ),
                TaskCommand::Stats { id } => stats::show(&c, &id, global.json),
                TaskCommand::Kill { id } => tasks::kill(&c, &id, global.json),
            }
        }
        CliCommand::App {
            output,
            marathon,
            command,
        } => app(
            &service::Service::marathon(&marathon.addr)?,
            command,
            output.json,
        ),
        CliCommand::Deployments { output, marathon } => {
            apps::deployments(&service::Service::marathon(&marathon.addr)?, output.json)
        }
        CliCommand::Job {
            global,
            chronos,
            command,
        } => job(&service::Service::chronos(&chronos.addr)?, &global, command),
    }
    .map_err(|e| e.replace('\n', " "))
}

/// A file's text; `-` is stdin. The error names the file.
fn read_input(path: &std::path::Path) -> Result<(String, String), String> {
    use std::io::Read;
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        return Ok(("stdin".into(), text));
    }
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            _ => e.to_string(),
        };
        format!("cannot read {name}: {why}")
    })?;
    Ok((name, text))
}

fn app(m: &service::Service, command: AppCommand, json: bool) -> Result<(), String> {
    match command {
        AppCommand::Run {
            file,
            flags,
            force,
            wait,
        } => {
            let file = file.as_deref().map(read_input).transpose()?;
            apps::run(m, file, &flags, force, &wait, json)
        }
        AppCommand::List => apps::list(m, json),
        AppCommand::Show { id } => apps::show(m, &id, json),
        AppCommand::Scale {
            id,
            instances,
            force,
            wait,
        } => apps::scale(m, &id, instances, force, &wait, json),
        AppCommand::Restart { id, force, wait } => apps::restart(m, &id, force, &wait, json),
        AppCommand::Destroy { id, force, wait } => apps::destroy(m, &id, force, &wait, json),
        AppCommand::Tasks { id } => apps::tasks(m, &id, json),
        AppCommand::Versions { id } => apps::versions(m, &id, json),
        AppCommand::Rollback {
            id,
            version,
            force,
            wait,
        } => apps::rollback(m, &id, &version, force, &wait, json),
    }
}

fn job(c: &service::Service, global: &Global, command: JobCommand) -> Result<(), String> {
    let json = global.json;
    match command {
        JobCommand::Add { file } => {
            let (name, text) = read_input(&file)?;
            jobs::add(c, &name, &text, json)
        }
        JobCommand::List => jobs::list(c, json),
        JobCommand::Show { name } => jobs::show(c, &name, json),
        JobCommand::Run { name, arguments } => jobs::run(c, &name, arguments.as_deref(), json),
        JobCommand::Runs { name } => jobs::runs(c, &name, json),
        JobCommand::Logs {
            name,
            run,
            follow,
            stderr,
            tail,
        } => jobs::logs(
            c,
            &Client::new(&global.master)?,
            &name,
            run.as_deref(),
            &logs::Options {
                follow,
                stderr,
                tail,
            },
        ),
        JobCommand::Delete { name } => jobs::delete(c, &name, json),
        JobCommand::Graph => jobs::graph(c, json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser, Debug)]
    struct TestCli {
        #[command(subcommand)]
        command: CliCommand,
    }

    fn parse(args: &[&str]) -> CliCommand {
        let mut argv = vec!["paddock"];
        argv.extend_from_slice(args);
        TestCli::try_parse_from(argv).unwrap().command
    }

    #[test]
    fn the_command_line_is_well_formed() {
        TestCli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_anywhere() {
        match parse(&["agents", "--json", "--master", "h:1"]) {
            CliCommand::Agents { global } => {
                assert!(global.json);
                assert_eq!(global.master, "h:1");
            }
            other => panic!("{other:?}"),
        }
        match parse(&["task", "--master", "h:2", "logs", "t1", "-f", "--tail", "5"]) {
            CliCommand::Task {
                global,
                command:
                    TaskCommand::Logs {
                        id, follow, tail, ..
                    },
            } => {
                assert_eq!(global.master, "h:2");
                assert_eq!(id, "t1");
                assert!(follow);
                assert_eq!(tail, Some(5));
            }
            other => panic!("{other:?}"),
        }
        match parse(&["task", "stats", "t1", "--json", "--master", "h:3"]) {
            CliCommand::Task {
                global,
                command: TaskCommand::Stats { id },
            } => {
                assert!(global.json);
                assert_eq!(global.master, "h:3");
                assert_eq!(id, "t1");
            }
            other => panic!("{other:?}"),
        }
        match parse(&["tasks", "--state", "running", "--master", "h:4"]) {
            CliCommand::Tasks { global, state, .. } => {
                assert_eq!(state.as_deref(), Some("running"));
                assert_eq!(global.master, "h:4");
            }
            other => panic!("{other:?}"),
        }
    }

    fn closed_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
        // `l` drops here: nothing listens on the port any more.
    }

    #[test]
    fn an_unreachable_master_is_one_line_and_non_zero() {
        let port = closed_port();
        let global = Global {
            master: format!("127.0.0.1:{port}"),
            json: false,
        };
        let err = execute(CliCommand::Agents {
            global: global.clone(),
        })
        .unwrap_err();
        assert_eq!(
            err,
            format!("cannot reach master at 127.0.0.1:{port}: connection refused")
        );
        assert_ne!(
            run(CliCommand::Agents {
                global: global.clone()
            }),
            0
        );
        assert_ne!(
            run(CliCommand::Task {
                global: global.clone(),
                command: TaskCommand::Kill { id: "x".into() },
            }),
            0
        );
        let err = execute(CliCommand::Task {
            global,
            command: TaskCommand::Logs {
                id: "x".into(),
                follow: true,
                stderr: false,
                tail: None,
            },
        })
        .unwrap_err();
        assert!(!err.contains('\n'));
        assert!(err.starts_with("cannot reach master at"), "{err}");
    }

    #[test]
    fn app_and_job_flags_parse() {
        match parse(&[
            "app",
            "run",
            "web.json",
            "--instances",
            "3",
            "--wait",
            "--timeout",
            "10s",
            "--marathon",
            "h:1",
            "--json",
        ]) {
            CliCommand::App {
                output,
                marathon,
                command:
                    AppCommand::Run {
                        file,
                        flags,
                        force,
                        wait,
                    },
            } => {
                assert_eq!(marathon.addr, "h:1");
                assert!(output.json);
                assert_eq!(file.as_deref(), Some(std::path::Path::new("web.json")));
                assert_eq!(flags.instances, Some(3));
                assert!(!force);
                assert!(wait.wait);
                assert_eq!(wait.timeout, std::time::Duration::from_secs(10));
            }
            other => panic!("{other:?}"),
        }
        match parse(&["app", "scale", "/web", "5", "--force"]) {
            CliCommand::App {
                marathon,
                command:
                    AppCommand::Scale {
                        id,
                        instances,
                        force,
                        wait,
                    },
                ..
            } => {
                assert_eq!(marathon.addr, service::DEFAULT_MARATHON);
                assert_eq!((id.as_str(), instances, force), ("/web", 5, true));
                assert_eq!(wait, deploy_wait::WaitArgs::default());
            }
            other => panic!("{other:?}"),
        }
        match parse(&[
            "job",
            "logs",
            "nightly",
            "2",
            "--tail",
            "5",
            "--chronos",
            "h:2",
            "--master",
            "h:3",
        ]) {
            CliCommand::Job {
                global,
                chronos,
                command:
                    JobCommand::Logs {
                        name, run, tail, ..
                    },
            } => {
                assert_eq!(
                    (chronos.addr.as_str(), global.master.as_str()),
                    ("h:2", "h:3")
                );
                assert_eq!(
                    (name.as_str(), run.as_deref(), tail),
                    ("nightly", Some("2"), Some(5))
                );
            }
            other => panic!("{other:?}"),
        }
        match parse(&["deployments", "--marathon", "h"]) {
            CliCommand::Deployments { marathon, .. } => assert_eq!(marathon.addr, "h"),
            other => panic!("{other:?}"),
        }
        // Negative resources reach Marathon, which names the field.
        match parse(&[
            "app", "run", "--id", "x", "--cmd", "y", "--cpus", "-1", "--mem", "-5",
        ]) {
            CliCommand::App {
                command: AppCommand::Run { flags, .. },
                ..
            } => assert_eq!((flags.cpus, flags.mem), (Some(-1.0), Some(-5.0))),
            other => panic!("{other:?}"),
        }
        let bad = TestCli::try_parse_from(["paddock", "app", "scale", "/web", "-1"]);
        assert!(bad.is_err());
        let bad = TestCli::try_parse_from(["paddock", "app", "run", "--wait", "--timeout", "soon"]);
        assert!(bad.is_err());
    }

    fn global() -> Global {
        Global {
            master: client::DEFAULT_MASTER.into(),
            json: false,
        }
    }

    fn on_marathon(addr: &str, command: AppCommand) -> Result<(), String> {
        execute(CliCommand::App {
            output: Output { json: false },
            marathon: MarathonAddr { addr: addr.into() },
            command,
        })
    }

    fn on_chronos(addr: &str, command: JobCommand) -> Result<(), String> {
        execute(CliCommand::Job {
            global: global(),
            chronos: ChronosAddr { addr: addr.into() },
            command,
        })
    }

    fn scale(id: &str, n: u64, wait: bool, timeout_secs: u64) -> AppCommand {
        AppCommand::Scale {
            id: id.into(),
            instances: n,
            force: false,
            wait: deploy_wait::WaitArgs {
                wait,
                timeout: std::time::Duration::from_secs(timeout_secs),
            },
        }
    }

    #[test]
    fn unreachable_frameworks_are_one_line() {
        let port = closed_port();
        let err = on_marathon(&format!("127.0.0.1:{port}"), AppCommand::List).unwrap_err();
        assert_eq!(
            err,
            format!("cannot reach marathon at 127.0.0.1:{port}: connection refused")
        );
        let err = on_chronos(&format!("127.0.0.1:{port}"), JobCommand::List).unwrap_err();
        assert_eq!(
            err,
            format!("cannot reach chronos at 127.0.0.1:{port}: connection refused")
        );
        assert_ne!(
            run(CliCommand::Deployments {
                output: Output { json: false },
                marathon: MarathonAddr {
                    addr: format!("127.0.0.1:{port}")
                },
            }),
            0
        );
    }

    fn run_flags(id: &str) -> AppCommand {
        AppCommand::Run {
            file: None,
            flags: app_def::AppFlags {
                id: Some(id.into()),
                cmd: Some("sleep 100".into()),
                instances: Some(2),
                ..Default::default()
            },
            force: false,
            wait: deploy_wait::WaitArgs::default(),
        }
    }

    #[test]
    fn app_run_creates_new_apps_and_replaces_existing_ones() {
        let fresh = fake_http::serve(|r| match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/v2/apps/web") => (404, r#"{"message":"App '/web' does not exist"}"#.into()),
            ("POST", "/v2/apps") => (201, r#"{"id":"/web","deployments":[{"id":"d1"}]}"#.into()),
            _ => (500, "{}".into()),
        });
        on_marathon(&fresh.addr, run_flags("web")).unwrap();
        let seen = fresh.requests();
        assert_eq!(seen.len(), 2);
        let body: serde_json::Value = serde_json::from_str(&seen[1].body).unwrap();
        assert_eq!(body["cmd"], "sleep 100");
        assert_eq!(body["instances"], 2);

        let existing = fake_http::serve(|r| match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/v2/apps/web") => (200, r#"{"app":{"id":"/web"}}"#.into()),
            ("PUT", "/v2/apps/web?partialUpdate=false") => {
                (200, r#"{"deploymentId":"d2","version":"v"}"#.into())
            }
            _ => (500, "{}".into()),
        });
        on_marathon(&existing.addr, run_flags("/web")).unwrap();
        assert_eq!(existing.requests()[1].method, "PUT");
    }

    #[test]
    fn invalid_apps_show_every_detail_on_one_line() {
        let m = fake_http::serve(|r| {
            match r.method.as_str() {
            "GET" => (404, "{}".into()),
            _ => (
                422,
                r#"{"message":"Object is not valid","details":[{"path":"/cpus","errors":["got -1.0, expected 0.001 or more"]},{"path":"/id","errors":["must fully match regular expression"]}]}"#
                    .into(),
            ),
        }
        });
        let err = on_marathon(&m.addr, run_flags("web")).unwrap_err();
        assert_eq!(
            err,
            "Object is not valid: /cpus: got -1.0, expected 0.001 or more; \
             /id: must fully match regular expression"
        );
    }

    #[test]
    fn a_locked_app_suggests_force() {
        let m = fake_http::serve(|_| {
            (
                409,
                r#"{"message":"App is locked by one or more deployments.","deployments":[{"id":"d0"}]}"#
                    .into(),
            )
        });
        let err = on_marathon(&m.addr, scale("web", 3, false, 1)).unwrap_err();
        assert!(
            err.starts_with("App is locked by one or more deployments."),
            "{err}"
        );
        assert!(err.contains("--force"), "{err}");
    }

    fn deployment(id: &str, app: &str) -> String {
        format!(
            r#"{{"id":"{id}","affectedApps":["{app}"],"currentActions":[{{"action":"ScaleApplication","app":"{app}"}}],"currentStep":1,"totalSteps":1}}"#
        )
    }

    #[test]
    fn wait_follows_the_deployment_until_it_is_gone() {
        let polls = std::sync::atomic::AtomicUsize::new(0);
        let m = fake_http::serve(move |r| match (r.method.as_str(), r.path.as_str()) {
            ("PUT", "/v2/apps/web") => (200, r#"{"deploymentId":"d1","version":"v"}"#.into()),
            ("GET", "/v2/deployments") => {
                if polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
                    (200, format!("[{}]", deployment("d1", "/web")))
                } else {
                    (200, "[]".into())
                }
            }
            ("GET", "/v2/apps/web") => (
                200,
                r#"{"app":{"id":"/web","instances":3,"tasksRunning":1}}"#.into(),
            ),
            _ => (500, "{}".into()),
        });
        on_marathon(&m.addr, scale("web", 3, true, 30)).unwrap();
        let polls: Vec<_> = m
            .requests()
            .into_iter()
            .filter(|r| r.path == "/v2/deployments")
            .collect();
        assert_eq!(polls.len(), 3);
        for pair in polls.windows(2) {
            let gap = pair[1].at.duration_since(pair[0].at);
            assert!(
                gap >= deploy_wait::POLL - std::time::Duration::from_millis(5),
                "{gap:?}"
            );
        }
    }

    #[test]
    fn wait_gives_up_at_the_deadline_in_one_line() {
        let m = fake_http::serve(|r| match (r.method.as_str(), r.path.as_str()) {
            ("PUT", _) => (200, r#"{"deploymentId":"d1","version":"v"}"#.into()),
            ("GET", "/v2/deployments") => (200, format!("[{}]", deployment("d1", "/web"))),
            _ => (404, "{}".into()),
        });
        let err = on_marathon(&m.addr, scale("web", 3, true, 1)).unwrap_err();
        assert_eq!(
            err,
            "deployment d1 did not finish within 1s: step 1/1: ScaleApplication /web \
             (see paddock deployments)"
        );
    }

    /// A Marathon whose deployment d1 never leaves the list, and whose
    /// event stream reports `event` for it.
    fn marathon_with_event(event: &'static str) -> fake_http::Fake {
        fake_http::serve(move |r| {
            match (r.method.as_str(), r.path.as_str()) {
            ("PUT", _) => (200, r#"{"deploymentId":"d1","version":"v"}"#.into()),
            ("GET", p) if p.starts_with("/v2/events?") => (
                200,
                format!("event: event_stream_attached\ndata: {{\"eventType\":\"event_stream_attached\"}}\n\n{event}"),
            ),
            ("GET", "/v2/deployments") => (200, format!("[{}]", deployment("d1", "/web"))),
            _ => (404, "{}".into()),
        }
        })
    }

    #[test]
    fn wait_reports_a_cancelled_deployment_from_the_event_stream() {
        let m = marathon_with_event(
            "event: deployment_failed\ndata: {\"eventType\":\"deployment_failed\",\"id\":\"d1\",\"reason\":\"The deployment was canceled\"}\n\n",
        );
        let err = on_marathon(&m.addr, scale("web", 3, true, 30)).unwrap_err();
        assert_eq!(err, "deployment d1 failed: The deployment was canceled");
        // The stream was opened before the change was sent.
        let seen = m.requests();
        let events = seen.iter().position(|r| r.path.starts_with("/v2/events?"));
        let change = seen.iter().position(|r| r.method == "PUT");
        assert!(events.unwrap() < change.unwrap(), "{seen:?}");
    }

    #[test]
    fn wait_takes_success_from_the_event_stream() {
        let m = marathon_with_event(
            "event: deployment_success\ndata: {\"eventType\":\"deployment_success\",\"id\":\"d1\"}\n\n",
        );
        on_marathon(&m.addr, scale("web", 3, true, 30)).unwrap();
    }

    #[test]
    fn a_rolled_back_deployment_is_a_failure() {
        let m = fake_http::serve(|r| match (r.method.as_str(), r.path.as_str()) {
            ("POST", "/v2/apps/web/restart") => (200, r#"{"deploymentId":"d1"}"#.into()),
            ("GET", "/v2/deployments") => (200, format!("[{}]", deployment("d2", "/web"))),
            _ => (404, "{}".into()),
        });
        let err = on_marathon(
            &m.addr,
            AppCommand::Restart {
                id: "web".into(),
                force: false,
                wait: deploy_wait::WaitArgs {
                    wait: true,
                    timeout: std::time::Duration::from_secs(30),
                },
            },
        )
        .unwrap_err();
        assert!(err.contains("deployment d2 now changes /web"), "{err}");
    }

    #[test]
    fn job_add_picks_the_endpoint_and_errors_are_the_servers_message() {
        let c = fake_http::serve(|r| match (r.method.as_str(), r.path.as_str()) {
            ("POST", "/v1/scheduler/iso8601" | "/v1/scheduler/dependency") => (204, String::new()),
            _ => (
                400,
                r#"{"status":"Bad Request","message":"job 'nope' does not exist"}"#.into(),
            ),
        });
        let dir = tempfile::tempdir().unwrap();
        let scheduled = dir.path().join("a.json");
        std::fs::write(
            &scheduled,
            r#"{"name":"a","command":"true","schedule":"R//PT1H"}"#,
        )
        .unwrap();
        let child = dir.path().join("b.json");
        std::fs::write(&child, r#"{"name":"b","command":"true","parents":["a"]}"#).unwrap();
        on_chronos(&c.addr, JobCommand::Add { file: scheduled }).unwrap();
        on_chronos(&c.addr, JobCommand::Add { file: child }).unwrap();
        let paths: Vec<String> = c.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/v1/scheduler/iso8601", "/v1/scheduler/dependency"]);
        let err = on_chronos(
            &c.addr,
            JobCommand::Show {
                name: "nope".into(),
            },
        )
        .unwrap_err();
        assert_eq!(err, "job 'nope' does not exist");
        let err = on_chronos(
            &c.addr,
            JobCommand::Add {
                file: dir.path().join("missing.json"),
            },
        )
        .unwrap_err();
        assert!(err.ends_with("missing.json: no such file"), "{err}");
    }

    #[test]
    fn a_bad_address_is_an_error_not_a_panic() {
        let err = execute(CliCommand::Frameworks {
            global: Global {
                master: "https://x:1".into(),
                json: true,
            },
        })
        .unwrap_err();
        assert!(err.contains("https is not supported"), "{err}");
    }
}
