//! The workspace's layering invariants, checked from the sources and Cargo.lock:
//! - the core depends on no engine, tensor library or backend (not even through another crate);
//! - in every library crate, no module imports a module that (directly or not) imports it back.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every package reachable from `root` in Cargo.lock (normal, build and dev dependencies alike).
fn locked_closure(root: &str) -> BTreeSet<String> {
    let lock = std::fs::read_to_string(workspace().join("Cargo.lock")).unwrap();
    let mut deps: HashMap<String, Vec<String>> = HashMap::new();
    for block in lock.split("[[package]]").skip(1) {
        let name = block.lines().find_map(|l| l.strip_prefix("name = ")).unwrap().trim_matches('"');
        let list = block.split("dependencies = [").nth(1).map(|d| d.split(']').next().unwrap()).unwrap_or("");
        let names = list
            .lines()
            .filter_map(|l| l.trim().trim_end_matches(',').trim_matches('"').split(' ').next())
            .filter(|n| !n.is_empty())
            .map(String::from);
        deps.entry(name.to_string()).or_default().extend(names);
    }
    let mut seen = BTreeSet::new();
    let mut todo = vec![root.to_string()];
    while let Some(p) = todo.pop() {
        if seen.insert(p.clone()) {
            todo.extend(deps.get(&p).cloned().unwrap_or_default());
        }
    }
    seen
}

#[test]
fn the_core_knows_no_engine_and_no_framework() {
    let closure = locked_closure("mlcmp-core");
    assert!(closure.contains("serde_json"), "the closure was read: {closure:?}");
    for banned in [
        "mlcmp-gluon-engine",
        "mlcmp-backend-torch",
        "mlcmp-backend-gluon",
        "mlcmp-backend-candle",
        "mlcmp-backend-frameworks",
        "candle-core",
        "candle-nn",
        "gemm",
        "rayon",
        "tch",
    ] {
        assert!(!closure.contains(banned), "mlcmp-core depends on {banned}");
    }
}

/// Module path of a source file: `lib.rs` is the root (""), `a/mod.rs` and `a.rs` are `a`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().to_string()).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).filter(|p| *p != "mod" && *p != "lib").collect();
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The modules `path` (after `crate::` or `super::`) names, resolved against the known modules:
/// the longest known prefix of each path.
fn targets(base: &[&str], path: &str, modules: &BTreeSet<String>, out: &mut BTreeSet<String>) {
    let path = path.trim();
    if let Some((head, rest)) = path.split_once('{') {
        let inner = rest.rsplit_once('}').map(|(a, _)| a).unwrap_or(rest);
        let mut depth = 0;
        let mut start = 0;
        let head = head.trim_end_matches("::");
        let mut prefix: Vec<&str> = base.to_vec();
        prefix.extend(head.split("::").filter(|s| !s.is_empty()));
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    targets(&prefix, &inner[start..i], modules, out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        targets(&prefix, &inner[start..], modules, out);
        return;
    }
    let mut parts: Vec<&str> = base.to_vec();
    parts.extend(
        path.split("::")
            .map(|s| s.split_whitespace().next().unwrap_or(""))
            .filter(|s| !s.is_empty() && *s != "self"),
    );
    for n in (0..=parts.len()).rev() {
        let m = parts[..n].join("::");
        if modules.contains(&m) {
            out.insert(m);
            return;
        }
    }
}

/// Module -> the modules its code refers to through `crate::` and `super::` paths.
fn import_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = vec![];
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(src, f)).collect();
    let mut graph = BTreeMap::new();
    for f in &files {
        let me = module_of(src, f);
        let parent: Vec<&str> = {
            let v: Vec<&str> = me.split("::").filter(|s| !s.is_empty()).collect();
            v[..v.len().saturating_sub(1)].to_vec()
        };
        let text = std::fs::read_to_string(f).unwrap();
        let code: String = text
            .lines()
            .map(|l| l.split("//").next().unwrap())
            .filter(|l| !l.trim_start().starts_with("#[cfg(test)]"))
            .collect::<Vec<_>>()
            .join("\n");
        // Test modules inside a file may import freely.
        let code = code.split("mod tests {").next().unwrap().to_string();
        let mut out = BTreeSet::new();
        for stmt in code.split(';') {
            let s = stmt.trim();
            let s = s.strip_prefix("pub(crate) ").or_else(|| s.strip_prefix("pub ")).unwrap_or(s);
            if let Some(p) = s.strip_prefix("use crate::") {
                targets(&[], p, &modules, &mut out);
            } else if let Some(p) = s.strip_prefix("use super::") {
                targets(&parent, p, &modules, &mut out);
            }
        }
        for (i, _) in code.match_indices("crate::") {
            if code[..i].ends_with('$') || code[..i].ends_with("use ") {
                continue;
            }
            let p: String =
                code[i + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            targets(&[], &p, &modules, &mut out);
        }
        out.remove(&me);
        graph.insert(me, out);
    }
    graph
}

/// A cycle through `start`, if any.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((m, path)) = stack.pop() {
        for next in graph.get(&m).into_iter().flatten() {
            if next == start {
                return Some([path.clone(), vec![next.clone()]].concat());
            }
            if seen.insert(next.clone()) {
                stack.push((next.clone(), [path.clone(), vec![next.clone()]].concat()));
            }
        }
    }
    None
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    for krate in [
        "core",
        "gluon-engine",
        "data",
        "backend-torch",
        "backend-gluon",
        "backend-candle",
        "backend-frameworks",
    ] {
        let graph = import_graph(&workspace().join("crates").join(krate).join("src"));
        assert!(graph.len() > 1 || krate.starts_with("backend"), "{krate}: no modules found");
        for m in graph.keys() {
            if let Some(c) = cycle(&graph, m) {
                let show = |m: &String| if m.is_empty() { "(crate root)".to_string() } else { m.clone() };
                panic!("{krate}: module cycle {}", c.iter().map(show).collect::<Vec<_>>().join(" -> "));
            }
        }
    }
}

#[test]
fn the_checker_sees_a_cycle() {
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    g.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(cycle(&g, "a"), Some(vec!["a".into(), "b".into(), "a".into()]));
    assert_eq!(cycle(&g, "c"), None);
}
