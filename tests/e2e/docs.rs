//! The project stands on its own: every link in the README and docs/ names a file of this repository that exists
//! (and a heading of it that exists, when it names one), never a path outside the clone.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use storefront_tests::repo_root;

/// The Markdown files a reader follows links from.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let path = entry.expect("a docs/ entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The targets of a document's inline links and images, `[text](target)`, outside code blocks and spans.
fn link_targets(markdown: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Code spans hold examples, not links.
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            targets.push(after[..end].trim().to_owned());
            rest = &after[end..];
        }
    }
    targets
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut found = BTreeSet::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            found.insert(anchor(line.trim_start_matches('#')));
        }
    }
    found
}

/// Every problem with one link, or none.
fn broken(root: &Path, document: &Path, target: &str) -> Option<String> {
    if target.starts_with("http://") || target.starts_with("https://") || target.starts_with("mailto:") {
        return None;
    }
    let (file, heading) = match target.split_once('#') {
        Some((file, heading)) => (file, Some(heading)),
        None => (target, None),
    };
    let path = if file.is_empty() { document.to_path_buf() } else { document.parent()?.join(file) };
    let Ok(resolved) = path.canonicalize() else {
        return Some(format!("{target}: no such file"));
    };
    if !resolved.starts_with(root) {
        return Some(format!("{target}: outside the repository"));
    }
    let heading = heading?;
    let text = std::fs::read_to_string(&resolved).ok()?;
    (resolved.extension().is_some_and(|e| e == "md") && !anchors(&text).contains(heading))
        .then(|| format!("{target}: no heading #{heading}"))
}

#[test]
fn every_link_in_the_readme_and_docs_names_a_file_of_this_repository() {
    let root = repo_root().canonicalize().expect("the repository root");
    let mut problems = Vec::new();
    let mut checked = 0;
    for document in documents(&root) {
        let text = std::fs::read_to_string(&document).expect("a document");
        for target in link_targets(&text) {
            checked += 1;
            if let Some(problem) = broken(&root, &document, &target) {
                problems.push(format!("{}: {problem}", document.strip_prefix(&root).unwrap_or(&document).display()));
            }
        }
    }
    assert!(checked > 20, "the documents link to each other ({checked} links found)");
    assert!(problems.is_empty(), "broken links:\n{}", problems.join("\n"));
}

#[test]
fn a_link_outside_the_clone_or_to_a_missing_heading_is_caught() {
    let root = repo_root().canonicalize().expect("the repository root");
    let readme = root.join("README.md");
    let targets = link_targets("See [the contract](../shared/API.md), [web](docs/architecture.md#no-such), `[x](y)`.");
    assert_eq!(targets, ["../shared/API.md", "docs/architecture.md#no-such"]);
    for target in targets {
        assert!(broken(&root, &readme, &target).is_some(), "{target} is caught");
    }
    assert_eq!(broken(&root, &readme, "docs/architecture.md#web"), None);
    assert_eq!(anchor(" Tax & coupons: what's next"), "tax--coupons-whats-next");
}
