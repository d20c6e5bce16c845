//! `paddock image list|pull|rm|gc|import`: an agent's image store, through
//! its `/images` endpoints. The agent comes from `--agent` or
//! `PADDOCK_AGENT` (default 127.0.0.1:5051).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::client::{describe, normalize_with, percent_encode, status_message, TIMEOUT};
use super::table::{age, bytes, emit, emit_json, now_secs, num, text, Table};

/// The agent's default address.
pub const DEFAULT_AGENT: &str = "127.0.0.1:5051";

/// Pulls, imports and gc can take long; only connecting must be quick.
const LONG: Duration = Duration::from_secs(30 * 60);

/// Where the agent is.
#[derive(Args, Debug, Clone)]
pub struct AgentAddr {
    /// The agent, HOST:PORT (an http:// prefix is accepted).
    #[arg(
        long = "agent",
        env = "PADDOCK_AGENT",
        default_value = DEFAULT_AGENT,
        global = true,
        value_name = "HOST:PORT"
    )]
    pub addr: String,
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// List the images in the agent's store.
    List,
    /// Pull an image from a registry into the agent's store.
    Pull {
        /// The image, e.g. busybox:1.36 or registry:5000/team/app@sha256:….
        image: String,
        /// Registry user (basic auth, or for the token endpoint).
        #[arg(long, requires = "password")]
        username: Option<String>,
        /// Registry password.
        #[arg(long, env = "PADDOCK_REGISTRY_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// A ready-made Bearer token instead of a user and password.
        #[arg(long, env = "PADDOCK_REGISTRY_TOKEN", hide_env_values = true, conflicts_with_all = ["username", "password"])]
        token: Option<String>,
        /// Allow plain HTTP to this registry (loopback always is).
        #[arg(long)]
        insecure: bool,
    },
    /// Remove images by reference or manifest digest (layers go at gc).
    Rm {
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
    },
    /// Remove the images no live task uses, then unreferenced layers.
    Gc {
        /// Keep every image; only remove layers and blobs no image uses.
        #[arg(long)]
        keep_images: bool,
    },
    /// Import a `docker save` archive or an OCI image-layout tarball
    /// (plain or gzip); `-` reads stdin.
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// A blocking client bound to one agent.
struct Agent {
    http: reqwest::blocking::Client,
    addr: String,
}

impl Agent {
    fn new(addr: &str) -> Result<Agent, String> {
        let http = reqwest::blocking::Client::builder()
            .timeout(LONG)
            .connect_timeout(TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {}", describe(&e)))?;
        Ok(Agent {
            http,
            addr: normalize_with(
                addr,
                5051,
                "the agent",
                "--agent HOST:PORT or PADDOCK_AGENT",
            )?,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends `req`; a non-2xx answer becomes its one-line message.
    fn send(&self, req: reqwest::blocking::RequestBuilder) -> Result<Value, String> {
        let r = req
            .send()
            .map_err(|e| format!("cannot reach agent at {}: {}", self.addr, describe(&e)))?;
        let status = r.status();
        let body = r
            .text()
            .map_err(|e| format!("agent at {}: {}", self.addr, describe(&e)))?;
        if !status.is_success() {
            return Err(status_message(
                status.as_u16(),
                status.canonical_reason().unwrap_or(""),
                &body,
            ));
        }
        serde_json::from_str(&body)
            .map_err(|e| format!("agent at {}: invalid JSON ({e})", self.addr))
    }
}

pub fn run(addr: &str, cmd: ImageCommand, json: bool) -> Result<(), String> {
    let a = Agent::new(addr)?;
    match cmd {
        ImageCommand::List => {
            let v = a.send(a.http.get(a.url("/images")).timeout(TIMEOUT))?;
            if json {
                return emit_json(&v["images"]);
            }
            emit(&render_list(&v, now_secs()))
        }
        ImageCommand::Pull {
            image,
            username,
            password,
            token,
            insecure,
        } => {
            let mut body = json!({ "image": image, "insecure": insecure });
            if let Some(t) = token {
                body["token"] = json!(t);
            } else if let Some(u) = username {
                body["username"] = json!(u);
                body["password"] = json!(password.unwrap_or_default());
            }
            let v = a.send(a.http.post(a.url("/images/pull")).json(&body))?;
            if json {
                return emit_json(&v["image"]);
            }
            emit(&format!("pulled {}\n", summary(&v["image"])))
        }
        ImageCommand::Rm { images } => {
            let mut removed = Vec::new();
            for i in &images {
                let path = format!("/images/{}", percent_encode(i, true));
                let v = a.send(a.http.delete(a.url(&path)).timeout(TIMEOUT))?;
                removed.push(v["removed"].clone());
            }
            if json {
                return emit_json(&Value::Array(removed));
            }
            let lines: String = removed
                .iter()
                .map(|r| format!("removed {}\n", text(&r["reference"])))
                .collect();
            emit(&lines)
        }
        ImageCommand::Gc { keep_images } => {
            let body = json!({ "keep_unused_images": keep_images });
            let v = a.send(a.http.post(a.url("/images/gc")).json(&body))?;
            if json {
                return emit_json(&v);
            }
            emit(&render_gc(&v))
        }
        ImageCommand::Import { file } => {
            let (body, name) = if file.as_os_str() == "-" {
                (
                    reqwest::blocking::Body::new(std::io::stdin()),
                    "stdin".into(),
                )
            } else {
                let f = std::fs::File::open(&file)
                    .map_err(|e| format!("cannot open {}: {e}", file.display()))?;
                (reqwest::blocking::Body::from(f), file.display().to_string())
            };
            let path = format!("/images/import?name={}", percent_encode(&name, false));
            let v = a.send(
                a.http
                    .post(a.url(&path))
                    .header("content-type", "application/x-tar")
                    .body(body),
            )?;
            if json {
                return emit_json(&v["images"]);
            }
            let lines: String = v["images"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| format!("imported {}\n", summary(i)))
                .collect();
            emit(&lines)
        }
    }
}

/// `sha256:0123456789ab…` -> `0123456789ab`.
fn short_digest(d: &str) -> String {
    d.trim_start_matches("sha256:").chars().take(12).collect()
}

/// "REFERENCE (sha256:0123456789ab, 2 layers, 1.2 MiB)".
fn summary(i: &Value) -> String {
    format!(
        "{} (sha256:{}, {} layers, {})",
        text(&i["reference"]),
        short_digest(&text(&i["digest"])),
        num(&i["layers"]),
        bytes(num(&i["size"]))
    )
}

/// "3m ago", or "never".
fn ago(t: &Value, now: f64) -> String {
    match t.as_f64() {
        Some(t) => format!("{} ago", age(now - t)),
        None => "never".into(),
    }
}

/// The `image list` table.
fn render_list(v: &Value, now: f64) -> String {
    let mut t = Table::new(&[
        "REFERENCE",
        "DIGEST",
        "SIZE",
        "LAYERS",
        "STORED",
        "LAST USED",
        "USED BY",
    ]);
    for i in v["images"].as_array().into_iter().flatten() {
        let users: Vec<String> = i["used_by"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        t.row(vec![
            text(&i["reference"]),
            short_digest(&text(&i["digest"])),
            bytes(num(&i["size"])),
            text(&i["layers"]),
            ago(&i["stored"], now),
            ago(&i["last_used"], now),
            if users.is_empty() {
                "-".into()
            } else {
                users.join(",")
            },
        ]);
    }
    t.render()
}

/// The `image gc` summary.
fn render_gc(v: &Value) -> String {
    let removed: Vec<String> = v["images_removed"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    let kept: Vec<String> = v["kept_in_use"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    let mut out = format!(
        "removed {} images, {} layers and {} blobs; freed {}\n",
        removed.len(),
        num(&v["layers_removed"]),
        num(&v["blobs_removed"]),
        bytes(num(&v["bytes_freed"]))
    );
    for r in removed {
        out.push_str(&format!("removed {r}\n"));
    }
    for k in kept {
        out.push_str(&format!("kept {k} (in use)\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_a_table_with_ages_and_users() {
        let v = json!({"images": [
            {"reference": "docker.io/library/busybox:latest",
             "digest": format!("sha256:{}", "ab".repeat(32)), "size": 1048576,
             "layers": 2, "stored": 900.0, "last_used": 990.0, "used_by": ["t1", "t2"]},
            {"reference": "reg/x:1", "digest": "sha256:00", "size": 10,
             "layers": 1, "stored": 0.0, "last_used": null, "used_by": []}
        ]});
        let out = render_list(&v, 1000.0);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("REFERENCE"), "{out}");
        assert!(
            lines[1].contains("abababababab  1.0 MiB  2       100s ago  10s ago    t1,t2"),
            "{out}"
        );
        assert!(lines[2].contains("never      -"), "{out}");
    }

    #[test]
    fn gc_names_what_went_and_what_stayed() {
        let v = json!({"images_removed": ["a:1"], "blobs_removed": 3,
            "layers_removed": 1, "bytes_freed": 2048, "kept_in_use": ["b:1"]});
        assert_eq!(
            render_gc(&v),
            "removed 1 images, 1 layers and 3 blobs; freed 2.0 KiB\nremoved a:1\nkept b:1 (in use)\n"
        );
    }

    #[test]
    fn an_unreachable_agent_is_one_line() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let err = run(&format!("127.0.0.1:{port}"), ImageCommand::List, false).unwrap_err();
        assert_eq!(
            err,
            format!("cannot reach agent at 127.0.0.1:{port}: connection refused")
        );
        assert!(Agent::new("h:port").is_err());
    }
}
