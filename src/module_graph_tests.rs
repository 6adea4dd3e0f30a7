//! The top-level modules (`src/NAME.rs` or `src/NAME/`) must not depend on each other in a
//! cycle: each arrow of the data flow is one module and nothing flows backwards. The graph is
//! read from the sources at test time: every `crate::NAME` path (also inside `use crate::{…}`
//! groups) and every `super::` chain that climbs out of its top-level module is an edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

#[test]
fn top_level_modules_have_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&src);
    assert!(
        graph.contains_key("oci") && graph.contains_key("registry"),
        "{graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "top-level modules depend on each other in a cycle: {}",
            cycle.join(" → ")
        );
    }
}

#[test]
fn paths_in_groups_and_super_chains_are_edges() {
    let text = "use crate::{a::X, b::{self, c}, d as e};\n// crate::commented\nfn f() { crate::g::h(); super::super::i::J; }";
    let names: BTreeSet<String> = ["a", "b", "d", "g", "i", "commented"]
        .map(String::from)
        .into();
    let found = edges(text, 2, &names);
    assert_eq!(found, ["a", "b", "d", "g", "i"].map(String::from).into());
    assert!(edges("super::i::J", 2, &names).is_empty(), "stays inside");
    let g: Graph = [("a", "b"), ("b", "c"), ("c", "a")]
        .iter()
        .map(|(k, v)| (k.to_string(), [v.to_string()].into()))
        .collect();
    assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "c", "a"]);
}

/// Every top-level module and the other top-level modules its files name.
fn graph(src: &Path) -> Graph {
    let mut roots: BTreeMap<String, PathBuf> = BTreeMap::new();
    for entry in std::fs::read_dir(src).expect("reading src/") {
        let path = entry.expect("reading src/").path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let is_module = path.is_dir() || path.extension().is_some_and(|e| e == "rs");
        if is_module && stem != "lib" && stem != "main" {
            roots.insert(stem.to_string(), src.join(stem));
        }
    }
    let names: BTreeSet<String> = roots.keys().cloned().collect();
    let mut graph = Graph::new();
    for (name, root) in &roots {
        let mut deps = BTreeSet::new();
        for (file, depth) in files(root) {
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
            deps.extend(edges(&text, depth, &names));
        }
        deps.remove(name);
        graph.insert(name.clone(), deps);
    }
    graph
}

/// The `.rs` files of the module at `root` (`root.rs` and/or the directory `root/`), each with
/// its module depth below the crate (`src/a.rs` and `src/a/mod.rs` are 1, `src/a/b.rs` is 2).
fn files(root: &Path) -> Vec<(PathBuf, usize)> {
    let mut out = Vec::new();
    let file = root.with_extension("rs");
    if file.is_file() {
        out.push((file, 1));
    }
    let mut todo = vec![(root.to_path_buf(), 1)];
    while let Some((dir, depth)) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("listing a module directory").path();
            if path.is_dir() {
                todo.push((path, depth + 1));
            } else if path.extension().is_some_and(|e| e == "rs") {
                let is_mod = path.file_name().is_some_and(|n| n == "mod.rs");
                out.push((path, if is_mod { depth } else { depth + 1 }));
            }
        }
    }
    out
}

/// The top-level modules (among `names`) that `text`, a file at module `depth`, refers to.
/// Comments are skipped. An inline `mod` makes a `super::` chain climb less far than the file's
/// depth says, which can only add edges, never hide one.
fn edges(text: &str, depth: usize, names: &BTreeSet<String>) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    let mut add = |name: &str| {
        if names.contains(name) {
            out.insert(name.to_string());
        }
    };
    for (i, _) in code.match_indices("crate::") {
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = &code[i + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => group_heads(group).iter().for_each(|h| add(h)),
            None => add(ident(rest)),
        }
    }
    for (i, _) in code.match_indices("super::") {
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let mut rest = &code[i..];
        let mut climbs = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            climbs += 1;
            rest = r;
        }
        if climbs >= depth {
            add(ident(rest));
        }
    }
    out
}

/// The first path segment of each item of a `{…}` group (after its `{`).
fn group_heads(group: &str) -> Vec<&str> {
    let mut heads = Vec::new();
    let mut level = 0;
    let mut start = true;
    for (i, c) in group.char_indices() {
        match c {
            '{' => level += 1,
            '}' if level == 0 => break,
            '}' => level -= 1,
            ',' if level == 0 => start = true,
            c if start && !c.is_whitespace() => {
                heads.push(ident(&group[i..]));
                start = false;
            }
            _ => {}
        }
    }
    heads
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// A cycle as the modules along it, first repeated at the end; `None` when there is none.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Seen {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &Graph,
        seen: &mut BTreeMap<String, Seen>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match seen.get(node) {
            Some(Seen::Done) => return None,
            Some(Seen::Open) => {
                let from = path
                    .iter()
                    .position(|n| n == node)
                    .expect("open on the path");
                let mut cycle = path[from..].to_vec();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            None => {}
        }
        seen.insert(node.to_string(), Seen::Open);
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, seen, path) {
                return Some(c);
            }
        }
        path.pop();
        seen.insert(node.to_string(), Seen::Done);
        None
    }
    let mut seen = BTreeMap::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut seen, &mut Vec::new()))
}
