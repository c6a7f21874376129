//! The project's files and the command-line tools the deployment tests run
//! (helm, kubectl, kubernetes-validate, hadolint), which `scripts/test`
//! installs: without one, the test that needs it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `path` in the project.
pub fn project(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs `tool` in the project: whether it succeeded, and what it wrote.
pub fn run(tool: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(tool)
        .args(args)
        .current_dir(project(""))
        .output()
        .unwrap_or_else(|e| panic!("{tool} must be installed (scripts/test installs it): {e}"));
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}
