//! Dependencies flow one way. Each top-level module may use only the modules listed
//! for it below; this test reads every source file's `crate::…` paths and fails on
//! any other, so the direction is checked rather than hoped for.
//!
//! ```text
//! bin, cli, client, daemon, lifecycle     wiring and the command line
//!   api, server                           HTTP: only the service layer (and model)
//!     service                             use cases, the one write path
//!       apply, live                       the worker and live state
//!         store, render, kamailio, events the parts, side by side: none uses another
//!           ami, templates                the AMI protocol, provider/extension data
//!             config, secrets, metrics, logging, systemd
//!               model                     domain types and validation
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module → the modules it may use. `model` uses nothing.
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("config", &["model"]),
    ("secrets", &["model"]),
    ("metrics", &["model"]),
    ("logging", &["config"]),
    ("systemd", &[]),
    ("report", &[]),
    ("network", &[]),
    ("templates", &["model"]),
    ("ami", &["model", "metrics"]),
    ("render", &["model", "templates", "config"]),
    ("kamailio", &["model", "render", "config", "metrics"]),
    ("events", &["model", "ami", "metrics"]),
    ("store", &["model", "templates", "secrets", "config"]),
    ("live", &["model", "ami", "events", "config"]),
    ("import", &["model", "render", "templates"]),
    (
        "apply",
        &[
            "model",
            "ami",
            "render",
            "kamailio",
            "events",
            "store",
            "templates",
            "config",
            "secrets",
            "metrics",
        ],
    ),
    (
        "service",
        &[
            "model",
            "ami",
            "apply",
            "render",
            "kamailio",
            "events",
            "store",
            "templates",
            "live",
            "import",
            "config",
            "secrets",
            "metrics",
        ],
    ),
    ("api", &["service", "model", "config", "metrics"]),
    ("server", &["config"]),
    ("client", &["config", "model"]),
    (
        "cli",
        &["client", "model", "service", "events", "config", "network"],
    ),
    (
        "daemon",
        &[
            "api",
            "network",
            "server",
            "service",
            "apply",
            "live",
            "store",
            "render",
            "kamailio",
            "events",
            "ami",
            "templates",
            "config",
            "secrets",
            "metrics",
            "logging",
            "systemd",
            "model",
        ],
    ),
    (
        "lifecycle",
        &[
            "daemon", "api", "service", "store", "config", "logging", "systemd", "metrics", "model",
        ],
    ),
];

/// The top-level module a file under `src/` belongs to (`None` for `lib.rs`, the
/// binaries and this test).
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "bin" | "layering")).then(|| name.to_owned())
}

/// Every `crate::<module>` a source text uses, leaving out its `#[cfg(test)]` tail.
fn used_modules(text: &str) -> BTreeSet<String> {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    let mut used = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    used.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            used.insert(name);
        }
    }
    used
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn dependencies_flow_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(
        files.len() > 50,
        "found only {} source files under {}",
        files.len(),
        src.display()
    );
    let mut wrong = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap_or(&file);
        let Some(module) = module_of(relative) else {
            continue;
        };
        let Some(may_use) = allowed.get(module.as_str()) else {
            wrong.push(format!(
                "{}: module {module} has no entry in ALLOWED",
                relative.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for used in used_modules(&text) {
            if used != module
                && allowed.contains_key(used.as_str())
                && !may_use.contains(&used.as_str())
            {
                wrong.push(format!("{}: {module} uses {used}", relative.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "dependencies against the direction:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_reader_finds_grouped_and_plain_paths() {
    let text = "use crate::model::X;\nuse crate::{store, render::Y};\nfn f() { crate::metrics::z(); }\n\
                #[cfg(test)]\nmod tests { use crate::api::Z; }";
    let used: Vec<String> = used_modules(text).into_iter().collect();
    assert_eq!(used, ["metrics", "model", "render", "store"]);
}
