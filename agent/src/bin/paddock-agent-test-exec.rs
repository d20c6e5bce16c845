//! Stands in for the `paddock` binary in this crate's tests: the agent runs
//! `<bin> executor` for command tasks and the command executor runs
//! `<bin> init -- ARGV…`. Not installed; the real binary is `paddock`.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let code = match args.get(1).map(String::as_str) {
        Some("executor") => paddock_agent::executor::run(),
        Some("init") => {
            let rest = args.get(2..).unwrap_or_default();
            let argv = match rest.split_first() {
                Some((first, tail)) if first == "--" => tail,
                _ => rest,
            };
            paddock_isolation::init::run(argv)
        }
        _ => {
            eprintln!("usage: paddock-agent-test-exec executor | init -- ARGV...");
            2
        }
    };
    std::process::exit(code);
}
