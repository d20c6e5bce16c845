//! `paddock agents`: the master's `/master/slaves` as a table.

use serde_json::Value;

use super::client::{pid_address, Client};
use super::table::{emit, emit_json, fraction, num, text, yes_no, Table};

pub fn list(c: &Client, json: bool) -> Result<(), String> {
    let v = c.get("/master/slaves")?;
    if json {
        return emit_json(&v["slaves"]);
    }
    emit(&render(&v))
}

/// `key:value;key:value`, in the order the master sent them.
fn attributes(a: &Value) -> String {
    a.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}:{}", text(v)))
        .collect::<Vec<_>>()
        .join(";")
}

/// The table for a `/master/slaves` document.
pub fn render(v: &Value) -> String {
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
        let address = s["pid"]
            .as_str()
            .and_then(pid_address)
            .unwrap_or_else(|| format!("{}:{}", text(&s["hostname"]), text(&s["port"])));
        let used = |r: &str| fraction(num(&s["used_resources"][r]), num(&s["resources"][r]));
        t.row(vec![
            text(&s["id"]),
            text(&s["hostname"]),
            address,
            yes_no(s["active"].as_bool().unwrap_or(false)),
            used("cpus"),
            used("mem"),
            used("disk"),
            attributes(&s["attributes"]),
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_mesos_slaves_document() {
        let v: Value = serde_json::from_str(
            r#"{"slaves":[{"id":"5b1e-S0","hostname":"node1","port":5051,
              "pid":"slave(1)@10.0.0.1:5051","attributes":{"rack":"r1","ssd":"true"},
              "resources":{"cpus":4,"mem":7680,"disk":10240,"gpus":0,"ports":"[31000-32000]"},
              "used_resources":{"cpus":0.5,"mem":128,"disk":0,"gpus":0},
              "offered_resources":{},"active":true,"registered_time":1700000000.5,
              "version":"1.11.0"}],"recovered_slaves":[]}"#,
        )
        .unwrap();
        assert_eq!(
            render(&v),
            "ID       HOSTNAME  ADDRESS        ACTIVE  CPUS   MEM (MB)  DISK (MB)  ATTRIBUTES\n\
             5b1e-S0  node1     10.0.0.1:5051  yes     0.5/4  128/7680  0/10240    rack:r1;ssd:true\n"
        );
    }
}
