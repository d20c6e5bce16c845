//! The operator CLI: reads the master's and agents' Mesos-shaped endpoints
//! and prints tables for people or JSON for scripts. Errors are one line on
//! stderr and a non-zero exit.

mod client;
mod table;
mod tasks;

use clap::{Args, Subcommand};
use serde_json::Value;

use client::Master;
use table::Table;

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// The master, HOST:PORT.
    #[arg(
        long,
        env = "PADDOCK_MASTER",
        default_value = "127.0.0.1:5050",
        global = true
    )]
    pub master: String,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum CliCommand {
    /// List agents with their resources.
    Agents(Common),
    /// List frameworks with their allocations.
    Frameworks(Common),
    /// List tasks.
    Tasks {
        #[command(flatten)]
        common: Common,
        /// Only tasks in this state (e.g. TASK_RUNNING or running).
        #[arg(long)]
        state: Option<String>,
        /// Only tasks of this framework id (or name).
        #[arg(long)]
        framework: Option<String>,
        /// Only tasks on this agent id (or hostname).
        #[arg(long)]
        agent: Option<String>,
    },
    /// Inspect or act on one task.
    #[command(subcommand)]
    Task(TaskCommand),
}

#[derive(Subcommand, Debug)]
pub enum TaskCommand {
    /// Print a task's stdout (or stderr).
    Logs {
        id: String,
        /// Keep printing as the file grows.
        #[arg(short, long)]
        follow: bool,
        /// Show stderr instead of stdout.
        #[arg(long)]
        stderr: bool,
        /// Start with (about) the last N lines.
        #[arg(long)]
        tail: Option<usize>,
        #[command(flatten)]
        common: Common,
    },
    /// Show a task's cgroup statistics.
    Stats {
        id: String,
        #[command(flatten)]
        common: Common,
    },
    /// Kill a task (SIGTERM, then SIGKILL after its grace period).
    Kill {
        id: String,
        #[command(flatten)]
        common: Common,
    },
}

/// Runs one CLI command; the process exits with the returned code.
pub fn run(cmd: CliCommand) -> i32 {
    match dispatch(cmd) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("paddock: {e}");
            1
        }
    }
}

fn print_json(v: &Value) -> Result<(), String> {
    println!(
        "{}",
        serde_json::to_string_pretty(v).map_err(|e| e.to_string())?
    );
    Ok(())
}

fn dispatch(cmd: CliCommand) -> Result<(), String> {
    match cmd {
        CliCommand::Agents(c) => agents(&c),
        CliCommand::Frameworks(c) => frameworks(&c),
        CliCommand::Tasks {
            common,
            state,
            framework,
            agent,
        } => tasks::list(
            &common,
            state.as_deref(),
            framework.as_deref(),
            agent.as_deref(),
        ),
        CliCommand::Task(TaskCommand::Logs {
            id,
            follow,
            stderr,
            tail,
            common,
        }) => tasks::logs(&common, &id, follow, stderr, tail),
        CliCommand::Task(TaskCommand::Stats { id, common }) => tasks::stats(&common, &id),
        CliCommand::Task(TaskCommand::Kill { id, common }) => tasks::kill(&common, &id),
    }
}

pub fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fn agents(c: &Common) -> Result<(), String> {
    let m = Master::new(&c.master)?;
    let v = m.get("/master/slaves")?;
    if c.json {
        return print_json(&v["slaves"]);
    }
    let mut t = Table::new(&[
        "ID",
        "HOSTNAME",
        "ADDRESS",
        "ACTIVE",
        "CPUS",
        "MEM (MB)",
        "DISK (MB)",
        "ATTRIBUTES",
    ]);
    for s in v["slaves"].as_array().into_iter().flatten() {
        let addr = s["pid"]
            .as_str()
            .and_then(client::pid_address)
            .unwrap_or_default();
        let attrs: Vec<String> = s["attributes"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                format!(
                    "{k}:{}",
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                )
            })
            .collect();
        let frac = |r: &str| {
            format!(
                "{}/{}",
                num(&s["used_resources"][r]),
                num(&s["resources"][r])
            )
        };
        t.row(vec![
            s["id"].as_str().unwrap_or_default().to_string(),
            s["hostname"].as_str().unwrap_or_default().to_string(),
            addr,
            s["active"].as_bool().unwrap_or(false).to_string(),
            frac("cpus"),
            frac("mem"),
            frac("disk"),
            attrs.join(";"),
        ]);
    }
    print!("{}", t.render());
    Ok(())
}

fn frameworks(c: &Common) -> Result<(), String> {
    let m = Master::new(&c.master)?;
    let v = m.get("/master/frameworks")?;
    if c.json {
        return print_json(&v["frameworks"]);
    }
    let mut t = Table::new(&[
        "ID",
        "NAME",
        "ROLE",
        "ACTIVE",
        "TASKS",
        "CPUS",
        "MEM (MB)",
        "DRF SHARE",
    ]);
    for f in v["frameworks"].as_array().into_iter().flatten() {
        t.row(vec![
            f["id"].as_str().unwrap_or_default().to_string(),
            f["name"].as_str().unwrap_or_default().to_string(),
            f["role"].as_str().unwrap_or("*").to_string(),
            f["active"].as_bool().unwrap_or(false).to_string(),
            f["tasks"]
                .as_array()
                .map(|a| a.len())
                .unwrap_or(0)
                .to_string(),
            num(&f["used_resources"]["cpus"]).to_string(),
            num(&f["used_resources"]["mem"]).to_string(),
            format!("{:.3}", num(&f["drf_share"])),
        ]);
    }
    print!("{}", t.render());
    Ok(())
}
