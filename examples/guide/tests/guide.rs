//! Every `rust` block of docs/guide.md from "gen_server behaviour" to the end
//! is code of this workspace: an excerpt of a compiled source file, equal up
//! to indentation, where a `// …` line stands for lines left out. The
//! excerpts of this crate are run here too, on the counter example's
//! libraries, so the guide's host code is not only compiled but works.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The lines of `text`, trimmed, without empty ones.
fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

/// A `// …` line of a snippet: code left out.
fn is_elision(line: &str) -> bool {
    line.starts_with("// …")
}

/// At most this many source lines may stand behind one `// …`: an excerpt
/// is one piece of one file, not lines collected from all over it.
const MAX_ELIDED: usize = 80;

/// Whether `snippet` is an excerpt of `source`.
fn is_excerpt(snippet: &[String], source: &[String]) -> bool {
    let segments: Vec<&[String]> =
        snippet.split(|l| is_elision(l)).filter(|s| !s.is_empty()).collect();
    let Some((first, rest)) = segments.split_first() else { return false };
    let find = |seg: &[String], from: usize, to: usize| {
        (from..=to.min(source.len().saturating_sub(seg.len())))
            .find(|&i| source.get(i..i + seg.len()) == Some(seg))
    };
    let mut start = 0;
    while let Some(at) = find(first, start, source.len()) {
        let mut end = at + first.len();
        let all = rest.iter().all(|seg| match find(seg, end, end + MAX_ELIDED) {
            Some(i) => {
                end = i + seg.len();
                true
            }
            None => false,
        });
        if all {
            return true;
        }
        start = at + 1;
    }
    false
}

/// The workspace's Rust sources (not build output, not the fuzz targets).
fn sources(dir: &Path, out: &mut Vec<(PathBuf, Vec<String>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !["target", ".git", "fuzz", "docs", "templates"].contains(&name.as_str()) {
                sources(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push((path.clone(), lines(&std::fs::read_to_string(&path).unwrap())));
        }
    }
}

/// The guide from "gen_server behaviour" on, and its blocks as
/// `(info string, text)`.
fn blocks() -> Vec<(String, String)> {
    let guide = std::fs::read_to_string(root().join("docs/guide.md")).unwrap();
    let start = guide.find("### gen_server behaviour").expect("the gen_server section");
    let mut out = Vec::new();
    let mut parts = guide[start..].split("\n```");
    parts.next();
    while let (Some(open), Some(_after)) = (parts.next(), parts.next()) {
        let (info, text) = open.split_once('\n').unwrap_or((open, ""));
        out.push((info.trim().to_owned(), text.to_owned()));
    }
    out
}

#[test]
fn every_rust_snippet_of_the_guides_later_sections_is_compiled_code() {
    let mut files = Vec::new();
    sources(&root(), &mut files);
    assert!(files.len() > 100, "the workspace's sources");
    let mut checked = 0;
    let mut missing = Vec::new();
    for (info, text) in blocks() {
        // `rust`, `rust,no_run`, …: every Rust block.
        if info.split(',').next() != Some("rust") {
            continue;
        }
        let snippet = lines(&text);
        assert!(!snippet.is_empty(), "an empty block");
        if files.iter().any(|(_, src)| is_excerpt(&snippet, src)) {
            checked += 1;
        } else {
            missing.push(snippet.join("\n"));
        }
    }
    assert!(
        missing.is_empty(),
        "these snippets of docs/guide.md are not code of the workspace (an excerpt of a compiled file, \
         `// …` for lines left out):\n\n{}",
        missing.join("\n\n----\n\n")
    );
    assert!(
        checked >= 22,
        "the guide's later sections have at least 22 Rust snippets, found {checked}"
    );
}

#[test]
fn every_shell_snippet_of_the_guides_later_sections_names_real_packages() {
    let mut manifests = String::new();
    let mut stack = vec![root()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() && !["target", ".git", "templates"].contains(&name.as_str()) {
                stack.push(path);
            } else if name == "Cargo.toml" {
                manifests.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut checked = 0;
    for (info, text) in blocks() {
        if info != "sh" {
            continue;
        }
        for line in text.lines().filter(|l| l.starts_with("cargo ")) {
            let words: Vec<&str> = line.split_whitespace().collect();
            for pair in words.windows(2).filter(|w| w[0] == "-p") {
                let package = format!("name = \"{}\"", pair[1]);
                assert!(
                    manifests.contains(&package),
                    "`{line}` names a package that is not there: {}",
                    pair[1]
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 6, "the publishing line's packages");
}

#[test]
fn the_excerpt_check_refuses_a_changed_line_and_a_scattered_excerpt() {
    let src = lines("fn a() {\n    let x = 1;\n    let y = 2;\n}\n");
    assert!(is_excerpt(&lines("let x = 1;\nlet y = 2;"), &src));
    assert!(is_excerpt(&lines("fn a() {\n// …\n}"), &src));
    assert!(!is_excerpt(&lines("let x = 1;\nlet y = 3;"), &src));
    assert!(!is_excerpt(&lines("let y = 2;\nlet x = 1;"), &src));
    let far: Vec<String> = std::iter::once("start".to_owned())
        .chain((0..MAX_ELIDED + 1).map(|i| format!("line {i}")))
        .chain(std::iter::once("end".to_owned()))
        .collect();
    assert!(!is_excerpt(&lines("start\n// …\nend"), &far));
}
