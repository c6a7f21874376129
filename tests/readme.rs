//! The README and the documents in `docs/` stay true: every flag they mention
//! exists, every file they point to is in the repository, every link
//! resolves, every metric they name is served, and the README keeps the two
//! front-door commands the project runs and fits on a screen or two.

use std::path::Path;
use std::process::Command;

fn readme() -> String {
    project_file("README.md")
}

/// The README and every document in `docs/`, by path.
fn documents() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = vec!["README.md".to_owned(), "CHANGELOG.md".to_owned()];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".md") {
            paths.push(format!("docs/{name}"));
        }
    }
    paths.sort();
    paths.into_iter().map(|p| (p.clone(), project_file(&p))).collect()
}

/// Tokens of `text` made of the characters of flags and paths.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || "-._/".contains(c)))
        .filter(|t| !t.is_empty())
}

/// What `--help` prints.
fn help() -> String {
    let help = Command::new(env!("CARGO_BIN_EXE_tencentcloud-partner-exporter"))
        .arg("--help")
        .output()
        .unwrap();
    String::from_utf8_lossy(&help.stdout).into_owned()
}

#[test]
fn every_flag_in_the_documents_exists() {
    let help = help();
    let mut checked = 0;
    let is_flag = |t: &&str| {
        t.strip_prefix("--")
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_lowercase()))
    };
    for (doc, text) in documents() {
        for token in tokens(&text).filter(is_flag) {
            let flag = token.trim_end_matches('.');
            if [
                "--locked",
                "--build-arg",
                "--from-literal",
                "--release",
                "--bench",
                "--short",
                "--validate",
                "--now",
                "--set",
                "--push",
                "--dry-run",
            ]
            .iter()
            .any(|other| flag.starts_with(other))
            {
                continue; // flags of cargo, docker, git, helm, kubectl, systemctl and scripts/build-image in the snippets
            }
            assert!(
                help.contains(&format!("{flag} "))
                    || help.contains(&format!("{flag}="))
                    || help.contains(&format!("{flag}\n"))
                    || help.contains(&format!("{flag}[")),
                "{doc} mentions {flag}, which --help does not list"
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} flags found in the documents");
}

#[test]
fn every_file_the_documents_point_to_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for (doc, text) in documents() {
        for token in tokens(&text) {
            let path = token.trim_end_matches(['.', ',']);
            let in_repo = [
                "src/",
                "tests/",
                "deploy/",
                "docs/",
                "dashboards/",
                "scripts/",
                "benches/",
                ".ci/",
                "audit/",
            ]
            .iter()
            .any(|dir| path.starts_with(dir));
            if in_repo && !path.contains("...") {
                assert!(root.join(path).exists(), "{doc} points to {path}, which does not exist");
                checked += 1;
            }
        }
    }
    assert!(checked > 10, "only {checked} paths found in the documents");
}

#[test]
fn the_front_door_commands_are_the_ones_the_project_runs() {
    let readme = readme();
    let first_screen: String = readme.lines().take(25).collect::<Vec<_>>().join("\n");
    assert!(
        first_screen.contains("cargo run --release --locked -- --demo"),
        "the demo command"
    );
    assert!(first_screen.contains("\nscripts/test\n"), "the test command");
    let ci = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == "exec scripts/test"),
        ".ci/run runs the README's test command"
    );
}

#[test]
fn the_readme_fits_on_a_screen_or_two() {
    let size = readme().len();
    assert!(
        size <= 12 * 1024,
        "the README is {size} bytes: move reference into docs/"
    );
}

/// The anchor GitHub gives a heading.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of the headings of `text`.
fn anchors(text: &str) -> Vec<String> {
    let mut in_code = false;
    let mut anchors = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            anchors.push(anchor(line.trim_start_matches('#')));
        }
    }
    anchors
}

/// The targets of the Markdown links `[text](target)` of `text`.
fn links(text: &str) -> Vec<&str> {
    text.match_indices("](")
        .filter_map(|(at, _)| {
            let rest = &text[at + 2..];
            rest.find(')').map(|end| &rest[..end])
        })
        .collect()
}

/// Two headings of one document with the same anchor make GitHub number
/// the second (`#security-1`): a link to it lands on the first.
#[test]
fn every_heading_of_a_document_has_its_own_anchor() {
    // The changelog's "Added" and "Changed" recur under each release, as
    // Keep a Changelog has them; nothing links to them.
    for (doc, text) in documents().into_iter().filter(|(doc, _)| doc != "CHANGELOG.md") {
        let mut seen = std::collections::HashSet::new();
        for anchor in anchors(&text) {
            assert!(
                seen.insert(anchor.clone()),
                "{doc} has two headings with the anchor #{anchor}"
            );
        }
    }
}

#[test]
fn every_link_of_the_documents_resolves() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for (doc, text) in documents() {
        let dir = Path::new(&doc).parent().unwrap();
        for target in links(&text) {
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            let (file, fragment) = target.split_once('#').unwrap_or((target, ""));
            let path = if file.is_empty() {
                Path::new(&doc).to_path_buf()
            } else {
                dir.join(file)
            };
            assert!(
                root.join(&path).exists(),
                "{doc} links to {target}, which does not exist"
            );
            if !fragment.is_empty() {
                let linked = project_file(path.to_str().unwrap());
                assert!(
                    anchors(&linked).iter().any(|a| a == fragment),
                    "{doc} links to {target}, a heading {} does not have",
                    path.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 15, "only {checked} links found in the documents");
}

#[test]
fn every_metric_the_documents_name_is_in_the_reference() {
    let reference = project_file("docs/metrics.md");
    let generated = &reference[reference.find("<!-- BEGIN GENERATED").expect("the generated table")..];
    let served: Vec<&str> = generated
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    assert!(served.len() > 50, "only {} families in docs/metrics.md", served.len());
    let mut checked = 0;
    for (doc, text) in documents() {
        for token in tokens(&text).filter(|t| t.starts_with("tencentcloud_partner_") && !t.contains('/')) {
            let name = token.trim_end_matches('.');
            if name.ends_with('_') || name.starts_with("tencentcloud_partner_exporter") && !name.contains("_info") {
                continue; // a prefix, or the project's own name
            }
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix).filter(|f| served.iter().any(|s| s == f)))
                .unwrap_or(name);
            assert!(
                served.contains(&family),
                "{doc} names {name}, which the exporter does not serve"
            );
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} metric names found in the documents");
}

/// The fenced code blocks of `text`.
fn code_blocks(text: &str) -> Vec<String> {
    text.split("```")
        .skip(1)
        .step_by(2)
        .map(|block| block.split_once('\n').map_or("", |(_, body)| body).to_owned())
        .collect()
}

fn project_file(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn deploy_excerpts_are_word_for_word_in_their_files() {
    let blocks = code_blocks(&project_file("docs/deployment.md"));
    let mut excerpts = 0;
    for block in &blocks {
        let Some((first, body)) = block.split_once('\n') else {
            continue;
        };
        let Some(path) = first.strip_prefix("# excerpt of ") else {
            continue;
        };
        assert!(
            project_file(path.trim()).contains(body.trim_end()),
            "docs/deployment.md's excerpt of {path} is not in the file:\n{body}"
        );
        excerpts += 1;
    }
    assert!(excerpts >= 2, "docs/deployment.md should quote the files it describes");
}

#[test]
fn deploy_commands_name_what_the_files_use() {
    let commands = code_blocks(&project_file("docs/deployment.md")).join("\n");
    // Every build argument of the Dockerfile is shown.
    let dockerfile = project_file("Dockerfile");
    for line in dockerfile.lines().filter(|l| l.starts_with("ARG ")) {
        let name = line[4..].split('=').next().unwrap();
        assert!(
            commands.contains(&format!("--build-arg {name}=")),
            "docs/deployment.md's docker build lacks {name}"
        );
    }
    // The Secret created is the one the Deployment mounts, with the keys it reads.
    let deployment = project_file("deploy/kubernetes/deployment.yaml");
    let secret = deployment
        .lines()
        .find_map(|l| l.trim().strip_prefix("secretName: "))
        .expect("the Deployment mounts a Secret");
    assert!(
        commands.contains(&format!("create secret generic {secret} ")),
        "docs/deployment.md creates another Secret than {secret}"
    );
    for key in ["secret-id", "secret-key"] {
        assert!(deployment.contains(&format!("/{key}")), "the Deployment reads {key}");
        assert!(
            commands.contains(&format!("--from-literal={key}=")),
            "docs/deployment.md's Secret lacks {key}"
        );
    }
    // The systemd commands install the unit the repository has, where it reads the key.
    let unit = "deploy/systemd/tencentcloud-partner-exporter.service";
    assert!(commands.contains(unit));
    for credential in project_file(unit)
        .lines()
        .filter_map(|l| l.strip_prefix("LoadCredential="))
    {
        let file = credential.split_once(':').unwrap().1;
        assert!(
            commands.contains(&format!("> {file}")),
            "docs/deployment.md does not write {file}"
        );
    }
}

/// A table row with more or fewer cells than its header is shown cut or
/// padded: every row has its header's.
#[test]
fn every_row_of_a_table_has_its_headers_cells() {
    for (doc, text) in documents() {
        let mut header: Option<usize> = None;
        let mut in_code = false;
        for (n, line) in text.lines().enumerate() {
            if line.starts_with("```") {
                in_code = !in_code;
            }
            if in_code || !line.starts_with('|') {
                header = None;
                continue;
            }
            let cells = line.trim_end().matches('|').count() - line.matches("\\|").count();
            let expected = *header.get_or_insert(cells);
            assert_eq!(cells, expected, "{doc}:{}: {line}", n + 1);
        }
    }
}
