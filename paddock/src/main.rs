//! `paddock`: the one binary. Daemons (`master`, `agent`, `dev`), the hidden
//! per-task processes (`executor`, `init`), and the operator CLI.

mod cli;
mod daemons;
mod frameworks;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "paddock",
    version,
    about = "A cluster manager in the Mesos model, in one binary"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a master (Mesos-compatible, :5050) with Marathon (:8080) and Chronos (:4400).
    Master(daemons::MasterArgs),
    /// Run an agent (:5051) that registers with a master.
    Agent(daemons::AgentArgs),
    /// Run a master, one agent, Marathon and Chronos in one process on 127.0.0.1.
    Dev(daemons::DevArgs),
    /// Run the Marathon-compatible app scheduler (:8080) against a master.
    Marathon(frameworks::StandaloneArgs),
    /// Run the Chronos-compatible job scheduler (:4400) against a master.
    Chronos(frameworks::StandaloneArgs),
    /// The per-task command executor (started by the agent).
    #[command(hide = true)]
    Executor,
    /// Forks command executors for the agent (started by the agent).
    #[command(hide = true, name = "executor-launcher")]
    ExecutorLauncher,
    /// The PID 1 of a task's PID namespace (started by the executor).
    #[command(hide = true, trailing_var_arg = true)]
    Init {
        #[arg(required = true, allow_hyphen_values = true)]
        argv: Vec<String>,
    },
    #[command(flatten)]
    Cli(cli::CliCommand),
}

fn main() {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit();
            }
            // One line, as every CLI error is.
            let text = e.to_string();
            let message: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty() && !l.starts_with("Usage:"))
                .map(str::trim)
                .collect();
            eprintln!(
                "paddock: {}",
                message.join(" ").trim_start_matches("error: ")
            );
            std::process::exit(2);
        }
    };
    let code = match args.command {
        Command::Init { argv } => paddock_isolation::init::run(&argv),
        Command::Executor => daemons::run_executor(),
        Command::ExecutorLauncher => {
            // Once here, inherited by every executor forked from us and by
            // its container's init, instead of once per container.
            paddock_isolation::oci::seccomp_filter::warm();
            paddock_isolation::launcher::serve(daemons::run_executor)
        }
        Command::Master(a) => daemons::run_master(a),
        Command::Agent(a) => daemons::run_agent(a),
        Command::Dev(a) => daemons::run_dev(a),
        Command::Marathon(a) => daemons::run_marathon(a),
        Command::Chronos(a) => daemons::run_chronos(a),
        Command::Cli(c) => cli::run(c),
    };
    std::process::exit(code);
}
