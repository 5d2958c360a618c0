//! The inspector's legend explains every name the session holds.

use std::collections::BTreeSet;

use crate::{read, report};

/// The session key names: the values of the `&str` constants of `src/session/typed.rs`.
fn session_keys() -> BTreeSet<String> {
    read("src/session/typed.rs")
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = line
                .strip_prefix("pub(crate) ")
                .or_else(|| line.strip_prefix("pub "))
                .unwrap_or(line);
            let rest = line.strip_prefix("const ")?;
            let (_, rest) = rest.split_once(": &str = \"")?;
            Some(rest.split('"').next()?.to_owned())
        })
        .collect()
}

/// The names the legend of `templates/session.html` explains: the `<code>`
/// names in the `<dt>`s of the list after "What the names in".
fn legend_names() -> BTreeSet<String> {
    let page = read("templates/session.html");
    let Some(at) = page.find("What the names in") else {
        return BTreeSet::new();
    };
    let legend = &page[at..];
    let legend = &legend[..legend.find("</dl>").unwrap_or(legend.len())];
    let mut names = BTreeSet::new();
    for term in legend.split("<dt>").skip(1) {
        let term = term.split("</dt>").next().unwrap_or("");
        for code in term.split("<code>").skip(1) {
            if let Some(name) = code.split("</code>").next() {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

#[test]
fn the_inspector_legend_explains_every_session_key() {
    let keys = session_keys();
    let legend = legend_names();
    assert!(
        !keys.is_empty(),
        "src/session/typed.rs names its session keys"
    );
    let mut problems = Vec::new();
    for key in keys.difference(&legend) {
        problems.push(format!(
            "templates/session.html: the legend does not explain `{key}` (src/session/typed.rs)"
        ));
    }
    for name in legend.difference(&keys) {
        problems.push(format!(
            "templates/session.html: the legend explains `{name}`, which src/session/typed.rs does not name"
        ));
    }
    report("the inspector's legend against the session keys", problems);
}
