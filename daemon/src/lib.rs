//! lcd: the daemon that stores every command typed in zsh and bash, and the
//! command-line tool that sets it up and reads the history back.
//!
//! The modules follow a record's path: [`server`] accepts frames on the
//! socket, [`ingest`] validates and batches them, [`store`] writes and reads
//! SQLite. [`cli`] holds one file per subcommand.

pub mod cli;
pub mod config;
pub mod enrich;
pub mod forward;
pub mod ingest;
pub mod paths;
pub mod server;
pub mod service;
pub mod store;
pub mod time;

/// Data flows one way (docs/ARCHITECTURE.md): each stage of the daemon
/// imports only from the stages after it and from the leaves.
#[cfg(test)]
mod layering {
    use std::path::Path;

    /// Each module, and what it may import besides itself.
    const ALLOWED: &[(&str, &[&str])] = &[
        ("server", &["ingest", "enrich", "store", "forward", "config", "paths", "time"]),
        ("ingest", &["enrich", "store", "config", "time"]),
        ("enrich", &["store", "config", "time"]),
        ("store", &["time"]),
        ("forward", &["store", "config", "time"]),
        ("config", &["time"]),
        ("paths", &[]),
        ("time", &[]),
    ];

    fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn no_module_imports_from_a_module_above_it_in_the_flow() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut wrong = Vec::new();
        for (module, allowed) in ALLOWED {
            let mut files = Vec::new();
            let dir = src.join(module);
            if dir.is_dir() {
                sources(&dir, &mut files);
            }
            files.push(src.join(format!("{module}.rs")));
            for file in files.iter().filter(|f| f.exists()) {
                let text = std::fs::read_to_string(file).unwrap();
                for (at, _) in text.match_indices("crate::") {
                    let name: String =
                        text[at + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                    if name != *module && !allowed.contains(&name.as_str()) {
                        wrong.push(format!("{} imports crate::{name}", file.strip_prefix(&src).unwrap().display()));
                    }
                }
            }
        }
        assert!(wrong.is_empty(), "imports against the flow:\n{}", wrong.join("\n"));
    }
}
