//! The README stays true: every flag it mentions exists, every file it points
//! to is in the repository, and the two front-door commands are the ones the
//! project runs.

use std::path::Path;
use std::process::Command;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// Tokens of `text` made of the characters of flags and paths.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || "-._/".contains(c)))
        .filter(|t| !t.is_empty())
}

#[test]
fn every_flag_in_the_readme_exists() {
    let help = Command::new(env!("CARGO_BIN_EXE_tencentcloud-partner-exporter"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let readme = readme();
    let mut checked = 0;
    let is_flag = |t: &&str| {
        t.strip_prefix("--")
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_lowercase()))
    };
    for token in tokens(&readme).filter(is_flag) {
        let flag = token.trim_end_matches('.');
        if [
            "--locked",
            "--build-arg",
            "--from-literal",
            "--release",
            "--bench",
            "--short",
            "--validate",
        ]
        .iter()
        .any(|other| flag.starts_with(other))
        {
            continue; // flags of cargo, docker, git and kubectl in the snippets
        }
        assert!(
            help.contains(&format!("{flag} "))
                || help.contains(&format!("{flag}="))
                || help.contains(&format!("{flag}\n"))
                || help.contains(&format!("{flag}[")),
            "README mentions {flag}, which --help does not list"
        );
        checked += 1;
    }
    assert!(checked > 20, "only {checked} flags found in the README");
}

#[test]
fn every_file_the_readme_points_to_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = readme();
    let mut checked = 0;
    for token in tokens(&readme) {
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
        ]
        .iter()
        .any(|dir| path.starts_with(dir));
        if in_repo && !path.contains("...") {
            assert!(
                root.join(path).exists(),
                "README points to {path}, which does not exist"
            );
            checked += 1;
        }
    }
    assert!(checked > 10, "only {checked} paths found in the README");
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
fn every_flag_of_the_binary_is_in_the_readme() {
    let help = Command::new(env!("CARGO_BIN_EXE_tencentcloud-partner-exporter"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let readme = readme();
    let flags: Vec<&str> = tokens(&help)
        .filter(|t| t.starts_with("--") && t.len() > 3)
        .map(|t| t.trim_end_matches('.'))
        .filter(|t| !["--help"].contains(t))
        .collect();
    assert!(flags.len() > 20, "only {} flags in --help", flags.len());
    for flag in flags {
        assert!(
            readme.contains(&format!("`{flag}`"))
                || readme.contains(&format!("`{flag} "))
                || readme.contains(&format!("/ `{flag}")),
            "--help lists {flag}, which the README's Flags table does not"
        );
    }
}
