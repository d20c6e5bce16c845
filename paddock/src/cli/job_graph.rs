//! `paddock job graph`: Chronos's dependency graph (`/graph/csv`, or
//! `/graph/dot`) as an indented text tree. A job with several parents is
//! drawn in full under the first and as "(see above)" under the others.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

/// Jobs (with status and state, when known) and parent → child edges.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Graph {
    /// name → "success, idle" (what the server says about it).
    pub nodes: BTreeMap<String, String>,
    pub edges: BTreeSet<(String, String)>,
}

impl Graph {
    fn node(&mut self, name: &str) {
        self.nodes.entry(name.to_string()).or_default();
    }

    pub fn to_json(&self) -> Value {
        json!({
            "nodes": self.nodes.iter().map(|(n, s)| json!({"name": n, "status": s})).collect::<Vec<_>>(),
            "edges": self.edges.iter().map(|(p, c)| json!({"parent": p, "child": c})).collect::<Vec<_>>(),
        })
    }
}

/// Parses Chronos's CSV: `node,<name>,<status>,<state>` and
/// `link,<parent>,<child>` lines; anything else is skipped.
pub fn parse_csv(text: &str) -> Graph {
    let mut g = Graph::default();
    for line in text.lines() {
        let f: Vec<&str> = line.trim().split(',').map(str::trim).collect();
        match f.as_slice() {
            ["node", name, rest @ ..] if !name.is_empty() => {
                g.node(name);
                let status: Vec<&str> = rest.iter().copied().filter(|s| !s.is_empty()).collect();
                g.nodes.insert(name.to_string(), status.join(", "));
            }
            ["link", parent, child] if !parent.is_empty() && !child.is_empty() => {
                g.node(parent);
                g.node(child);
                g.edges.insert((parent.to_string(), child.to_string()));
            }
            _ => {}
        }
    }
    g
}

fn unquote(s: &str) -> String {
    let s = s.trim().trim_end_matches(';').trim();
    s.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(s)
        .replace("\\\"", "\"")
}

/// Parses a DOT digraph as JGraphT writes it: `1 [ label="a" ];` vertex
/// lines and `1 -> 2;` edges (quoted names work too).
pub fn parse_dot(text: &str) -> Graph {
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    let mut raw_edges = Vec::new();
    let mut ids = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("digraph") || line.starts_with('}') {
            continue;
        }
        let (head, attrs) = match line.find('[') {
            Some(i) => (&line[..i], &line[i..]),
            None => (line, ""),
        };
        if let Some((a, b)) = head.split_once("->") {
            raw_edges.push((unquote(a), unquote(b)));
            continue;
        }
        let id = unquote(head);
        if id.is_empty() || id.contains('=') {
            continue;
        }
        if let Some(i) = attrs.find("label") {
            let rest = attrs[i + 5..]
                .trim_start()
                .trim_start_matches('=')
                .trim_start();
            let label = match rest.strip_prefix('"') {
                Some(q) => q.split('"').next().unwrap_or_default().to_string(),
                None => rest
                    .split([' ', ',', ']', ';'])
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            };
            labels.insert(id.clone(), label);
        }
        ids.push(id);
    }
    let name = |id: &String| labels.get(id).cloned().unwrap_or_else(|| id.clone());
    let mut g = Graph::default();
    for id in &ids {
        g.node(&name(id));
    }
    for (a, b) in raw_edges {
        let (a, b) = (name(&a), name(&b));
        g.node(&a);
        g.node(&b);
        g.edges.insert((a, b));
    }
    g
}

/// The tree: roots (jobs without parents) in name order, children
/// indented below with box-drawing guides.
pub fn render(g: &Graph) -> String {
    let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut has_parent: BTreeSet<&str> = BTreeSet::new();
    for (p, c) in &g.edges {
        children.entry(p).or_default().push(c);
        has_parent.insert(c);
    }
    let mut out = String::new();
    let mut drawn: BTreeSet<&str> = BTreeSet::new();
    let label = |n: &str| match g.nodes.get(n) {
        Some(s) if !s.is_empty() => format!("{n} [{s}]"),
        _ => n.to_string(),
    };
    struct Walk<'a, 'g> {
        children: &'a BTreeMap<&'g str, Vec<&'g str>>,
        drawn: &'a mut BTreeSet<&'g str>,
        out: &'a mut String,
    }
    fn walk<'g>(
        w: &mut Walk<'_, 'g>,
        node: &'g str,
        prefix: &str,
        path: &mut Vec<&'g str>,
        label: &dyn Fn(&str) -> String,
    ) {
        let kids = w.children.get(node).cloned().unwrap_or_default();
        for (i, kid) in kids.iter().enumerate() {
            let last = i + 1 == kids.len();
            let (branch, more) = if last {
                ("└── ", "    ")
            } else {
                ("├── ", "│   ")
            };
            if path.contains(kid) {
                w.out.push_str(&format!("{prefix}{branch}{kid} (cycle)\n"));
            } else if !w.drawn.insert(kid) {
                w.out
                    .push_str(&format!("{prefix}{branch}{kid} (see above)\n"));
            } else {
                w.out.push_str(&format!("{prefix}{branch}{}\n", label(kid)));
                path.push(kid);
                walk(w, kid, &format!("{prefix}{more}"), path, label);
                path.pop();
            }
        }
    }
    let roots: Vec<&str> = g
        .nodes
        .keys()
        .map(String::as_str)
        .filter(|n| !has_parent.contains(n))
        .collect();
    // Jobs only on cycles have no root; draw them from their own name.
    let rest: Vec<&str> = g.nodes.keys().map(String::as_str).collect();
    for root in roots.into_iter().chain(rest) {
        if !drawn.insert(root) {
            continue;
        }
        out.push_str(&label(root));
        out.push('\n');
        let mut w = Walk {
            children: &children,
            drawn: &mut drawn,
            out: &mut out,
        };
        walk(&mut w, root, "", &mut vec![root], &label);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "node,extract,success,idle\n\
                       node,transform,fresh,idle\n\
                       node,load,failure,1 running\n\
                       node,report,fresh,queued\n\
                       node,lonely,fresh,idle\n\
                       link,extract,transform\n\
                       link,extract,load\n\
                       link,transform,report\n\
                       link,load,report\n";

    #[test]
    fn a_diamond_is_drawn_once_and_referred_to() {
        let g = parse_csv(CSV);
        assert_eq!(g.nodes.len(), 5);
        assert_eq!(g.edges.len(), 4);
        assert_eq!(
            render(&g),
            "extract [success, idle]\n\
             ├── load [failure, 1 running]\n\
             │   └── report [fresh, queued]\n\
             └── transform [fresh, idle]\n\
             \u{20}   └── report (see above)\n\
             lonely [fresh, idle]\n"
        );
    }

    #[test]
    fn dot_from_jgrapht_gives_the_same_graph() {
        let dot = "digraph G {\n  1 [ label=\"extract\" ];\n  2 [ label=\"transform\" ];\n  3 [ label=\"load\" ];\n  \
                   1 -> 2;\n  1 -> 3;\n}\n";
        let g = parse_dot(dot);
        assert_eq!(
            g.edges,
            [("extract", "load"), ("extract", "transform")]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        );
        assert_eq!(render(&g), "extract\n├── load\n└── transform\n");
        let quoted = parse_dot("digraph {\n\"a b\" -> \"c\";\n}");
        assert_eq!(render(&quoted), "a b\n└── c\n");
    }

    #[test]
    fn cycles_do_not_loop_forever() {
        let g = parse_csv("link,a,b\nlink,b,a\nlink,b,c\n");
        assert_eq!(render(&g), "a\n└── b\n    ├── a (cycle)\n    └── c\n");
    }

    #[test]
    fn junk_lines_are_skipped() {
        let g = parse_csv("hello\nnode,,x\nlink,a\nnode,a,fresh,idle\n");
        assert_eq!(render(&g), "a [fresh, idle]\n");
        assert_eq!(g.to_json()["nodes"][0]["name"], "a");
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever a server sends, parsing and drawing never panic, and
        /// every job appears in the tree.
        #[test]
        fn any_text_parses_and_renders(text in "(node|link|digraph|[a-c]|,| |->|\\[|label|=|\"|;|\n){0,60}") {
            for g in [parse_csv(&text), parse_dot(&text)] {
                let tree = render(&g);
                for name in g.nodes.keys() {
                    prop_assert!(tree.contains(name.as_str()));
                }
            }
        }

        #[test]
        fn random_dags_draw_every_edge(edges in proptest::collection::vec((0u8..6, 0u8..6), 0..12)) {
            let csv: String = edges.iter().map(|(a, b)| format!("link,j{a},j{b}\n")).collect();
            let g = parse_csv(&csv);
            let tree = render(&g);
            // One line per node reached plus one per edge drawn (edges into a
            // node already drawn or on the path still get their line).
            let lines = tree.lines().count();
            prop_assert!(lines >= g.nodes.len());
            prop_assert!(lines <= g.nodes.len() + g.edges.len());
        }
    }
}
