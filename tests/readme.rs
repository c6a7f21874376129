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

/// What `--help` prints.
fn help() -> String {
    let help = Command::new(env!("CARGO_BIN_EXE_tencentcloud-partner-exporter"))
        .arg("--help")
        .output()
        .unwrap();
    String::from_utf8_lossy(&help.stdout).into_owned()
}

#[test]
fn every_flag_in_the_readme_exists() {
    let help = help();
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
            "--now",
        ]
        .iter()
        .any(|other| flag.starts_with(other))
        {
            continue; // flags of cargo, docker, git, kubectl and systemctl in the snippets
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
    let help = help();
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

/// The fenced code blocks of the README's section `heading`.
fn code_blocks(readme: &str, heading: &str) -> Vec<String> {
    let start = readme.find(&format!("\n## {heading}\n")).expect("the section exists");
    let rest = &readme[start + 1..];
    let section = &rest[..rest[3..].find("\n## ").map_or(rest.len(), |end| end + 3)];
    section
        .split("```")
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
    let blocks = code_blocks(&readme(), "Deploy");
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
            "the README's excerpt of {path} is not in the file:\n{body}"
        );
        excerpts += 1;
    }
    assert!(excerpts >= 2, "the Deploy section should quote the files it describes");
}

#[test]
fn deploy_commands_name_what_the_files_use() {
    let commands = code_blocks(&readme(), "Deploy").join("\n");
    // Every build argument of the Dockerfile is shown.
    let dockerfile = project_file("Dockerfile");
    for line in dockerfile.lines().filter(|l| l.starts_with("ARG ")) {
        let name = line[4..].split('=').next().unwrap();
        assert!(
            commands.contains(&format!("--build-arg {name}=")),
            "the README's docker build lacks {name}"
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
        "the README creates another Secret than {secret}"
    );
    for key in ["secret-id", "secret-key"] {
        assert!(deployment.contains(&format!("/{key}")), "the Deployment reads {key}");
        assert!(
            commands.contains(&format!("--from-literal={key}=")),
            "the README's Secret lacks {key}"
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
            "the README does not write {file}"
        );
    }
}
