//! Records the git revision the binary is built from, for `build_info`.
//! A build outside a git checkout (a source tarball, a container context
//! without .git) reports "unknown" unless the variable is set by the caller.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=TENCENTCLOUD_PARTNER_EXPORTER_REVISION");
    println!("cargo:rerun-if-env-changed=TENCENTCLOUD_PARTNER_EXPORTER_VERSION");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    if std::env::var_os("TENCENTCLOUD_PARTNER_EXPORTER_REVISION").is_some() {
        return;
    }
    let revision = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    if let Some(revision) = revision {
        println!("cargo:rustc-env=TENCENTCLOUD_PARTNER_EXPORTER_REVISION={revision}");
    }
}
