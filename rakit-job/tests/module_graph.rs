//! The modules of `rakit-job/src` form no import cycle: each file uses only modules below
//! it, so each can be read (and tested) without the ones above. The graph is read from the
//! sources: an edge for every `crate::…` and `super::…` path (and, in a folder's `mod.rs`,
//! every `child::…` path), resolved to the deepest module it names. A `mod.rs` declaring
//! and re-exporting its children, and any path through the crate root's re-exports, are
//! not edges.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, with its module path (`worker::session`, `worker` for
/// `worker/mod.rs`, `` for `lib.rs`).
fn modules(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let mut name = prefix.to_vec();
        if path.is_dir() {
            name.push(stem);
            modules(&path, &name, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            if stem != "mod" && stem != "lib" {
                name.push(stem);
            }
            out.insert(name.join("::"), path);
        }
    }
}

/// The paths a file names through `crate::` or `super::`, as segment lists from the root.
fn references(module: &str, is_mod_rs: bool, children: &[String], text: &str) -> Vec<Vec<String>> {
    let here: Vec<String> = module
        .split("::")
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let parent = match is_mod_rs {
        true => here.clone(),
        false => here[..here.len().saturating_sub(1)].to_vec(),
    };
    let mut found = Vec::new();
    // Unit tests (a `#[cfg(test)]` module, by convention at the end of a file) are not
    // part of the graph: their `super` is the file itself.
    let production = text.split("#[cfg(test)]\nmod ").next().unwrap_or(text);
    for line in production.lines() {
        let code = line.split("//").next().unwrap_or("");
        if is_mod_rs && code.trim_start().starts_with("pub use") {
            continue;
        }
        let mut anchors = vec![
            ("crate::".to_string(), Vec::new()),
            ("super::".to_string(), parent.clone()),
        ];
        if is_mod_rs {
            // A folder's own code naming a child module (`session::Session`) uses it.
            for child in children {
                let mut base = here.clone();
                base.push(child.clone());
                anchors.push((format!("{child}::"), base));
            }
        }
        for (anchor, base) in anchors {
            let anchor = anchor.as_str();
            let mut rest = code;
            while let Some(at) = rest.find(anchor) {
                let glued = rest[..at]
                    .chars()
                    .last()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
                rest = &rest[at + anchor.len()..];
                if glued {
                    continue;
                }
                if rest.starts_with('{') {
                    let inner = &rest[1..rest.find('}').unwrap_or(rest.len())];
                    for item in inner.split(',') {
                        let mut path = base.clone();
                        path.extend(segments(item.trim()));
                        found.push(path);
                    }
                } else {
                    let mut path = base.clone();
                    path.extend(segments(rest));
                    found.push(path);
                }
            }
        }
    }
    found
}

/// The leading `a::b::c` segments of `text`.
fn segments(text: &str) -> Vec<String> {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(text.len());
    text[..end]
        .split("::")
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn the_modules_of_the_crate_form_no_import_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    modules(&src, &[], &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, path) in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let is_mod_rs = path.file_name().is_some_and(|n| n == "mod.rs");
        let children: Vec<String> = files
            .keys()
            .filter_map(|m| m.strip_prefix(&format!("{module}::")))
            .filter(|rest| !rest.contains("::"))
            .map(String::from)
            .collect();
        for reference in references(module, is_mod_rs, &children, &text) {
            let target = (1..=reference.len())
                .rev()
                .map(|n| reference[..n].join("::"))
                .find(|m| files.contains_key(m));
            if let Some(target) = target
                && !target.is_empty()
                && &target != module
            {
                edges.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    // Depth-first search for a cycle, reporting the first one found.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for module in files.keys() {
        if let Some(cycle) = visit(module, &edges, &mut Vec::new(), &mut done) {
            panic!("an import cycle: {}", cycle.join(" -> "));
        }
    }
    assert!(edges.len() > 10, "the graph was not read: {edges:?}");
}
