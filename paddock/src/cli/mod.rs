//! The operator CLI: reads the master's and agents' Mesos-shaped endpoints
//! and prints aligned tables for people or JSON (`--json`) for scripts.
//! Errors are one line on stderr (`paddock: ...`) and exit code 1.

mod agents;
mod client;
mod frameworks;
mod logs;
mod sandbox;
mod stats;
mod table;
mod tasks;

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
    }
    .map_err(|e| e.replace('\n', " "))
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
