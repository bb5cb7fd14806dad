//! The snippets of docs/guide.md's "Adding a message in a release" are the
//! counter example's own code: each is checked to appear, verbatim up to
//! indentation, in the example's sources (which the workspace builds and
//! `cargo run -p counter-example-host` runs).

use std::path::Path;

/// The lines of `text`, trimmed, without empty ones.
fn lines(text: &str) -> Vec<&str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect()
}

#[test]
fn every_snippet_of_adding_a_message_is_the_examples_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let guide = std::fs::read_to_string(root.join("docs/guide.md")).unwrap();
    let start = guide.find("### Adding a message in a release").expect("the section");
    let section = &guide[start..];
    let end = section[4..].find("\n## ").map_or(section.len(), |i| i + 4);
    let section = &section[..end];
    let sources: Vec<String> = ["api/src/lib.rs", "module_v2/src/lib.rs", "host/src/main.rs"]
        .iter()
        .map(|p| std::fs::read_to_string(root.join("examples/counter").join(p)).unwrap())
        .collect();
    let source_lines: Vec<Vec<&str>> = sources.iter().map(|s| lines(s)).collect();
    let mut checked = 0;
    for block in section.split("```rust\n").skip(1) {
        let snippet = lines(block.split("```").next().unwrap());
        assert!(!snippet.is_empty());
        let found = source_lines
            .iter()
            .any(|src| src.windows(snippet.len()).any(|w| w == snippet.as_slice()));
        assert!(
            found,
            "this snippet of docs/guide.md is not in the example:\n{}",
            snippet.join("\n")
        );
        checked += 1;
    }
    assert_eq!(checked, 6, "the section's snippets");
}
