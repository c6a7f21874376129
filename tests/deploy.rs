//! The deployment files: the Dockerfile passes hadolint and builds with the
//! project's toolchain; the systemd unit passes `systemd-analyze verify`; the
//! Kubernetes manifests pass `kubernetes-validate --strict`, the
//! ServiceMonitor and PrometheusRule their CRD schemas, and the
//! PrometheusRule is exactly rules.yml; `scripts/build-static` makes a
//! binary that needs no shared library. The tools are installed by
//! `scripts/test`; without them these tests fail.

mod support;

use std::path::PathBuf;
use std::process::Command;
use support::tools::{project, run};

#[test]
fn dockerfile_passes_hadolint() {
    let (ok, text) = run(
        "hadolint",
        &["--no-color", "--failure-threshold", "warning", "Dockerfile"],
    );
    assert!(ok, "hadolint:\n{text}");
}

#[test]
fn dockerfile_builds_with_the_projects_toolchain() {
    let (ok, rustc) = run("rustc", &["--version"]);
    assert!(ok);
    let version = rustc.split_whitespace().nth(1).unwrap();
    let minor = version.rsplit_once('.').unwrap().0;
    let dockerfile = std::fs::read_to_string(project("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains(&format!("FROM rust:{minor}-")),
        "the build stage should use rust:{minor}"
    );
    for needed in [
        "USER 65532:65532",
        "EXPOSE 19287",
        "ENTRYPOINT [",
        "--locked",
        "ARG VERSION",
    ] {
        assert!(dockerfile.contains(needed), "Dockerfile lacks {needed}");
    }
}

#[test]
fn systemd_unit_passes_verification() {
    let unit = std::fs::read_to_string(project("deploy/systemd/tencentcloud-partner-exporter.service")).unwrap();
    // verify checks that ExecStart exists: point it at the binary just built.
    let unit = unit.replace(
        "/usr/local/bin/tencentcloud-partner-exporter",
        env!("CARGO_BIN_EXE_tencentcloud-partner-exporter"),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tencentcloud-partner-exporter.service");
    std::fs::write(&path, unit).unwrap();
    let (ok, text) = run("systemd-analyze", &["verify", path.to_str().unwrap()]);
    assert!(
        ok && !text.contains("tencentcloud-partner-exporter.service:"),
        "systemd-analyze verify:\n{text}"
    );
}

#[test]
fn kubernetes_manifests_pass_strict_validation() {
    let files = [
        "deployment.yaml",
        "service.yaml",
        "networkpolicy.yaml",
        "examples/secret.yaml",
    ];
    let paths: Vec<String> = files.iter().map(|f| format!("deploy/kubernetes/{f}")).collect();
    let mut args = vec!["--strict"];
    args.extend(paths.iter().map(String::as_str));
    let (ok, text) = run("kubernetes-validate", &args);
    assert!(ok, "kubernetes-validate:\n{text}");
    assert_eq!(text.matches(" passed for resource ").count(), files.len(), "{text}");
}

#[test]
fn kustomization_lists_every_manifest() {
    let kustomization = std::fs::read_to_string(project("deploy/kubernetes/kustomization.yaml")).unwrap();
    for entry in std::fs::read_dir(project("deploy/kubernetes")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".yaml") && name != "kustomization.yaml" {
            assert!(
                kustomization.contains(&format!("  - {name}\n")),
                "kustomization.yaml leaves out {name}"
            );
        }
    }
}

#[test]
fn prometheus_rule_is_generated_from_rules_yml() {
    let committed = std::fs::read_to_string(project("deploy/kubernetes/prometheusrule.yaml")).unwrap();
    let rules = std::fs::read_to_string(project("deploy/prometheus/rules.yml")).unwrap();
    let body: String = rules
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| format!("  {l}\n"))
        .collect();
    assert!(
        committed.ends_with(&format!("spec:\n{body}")),
        "deploy/kubernetes/prometheusrule.yaml is out of date: run scripts/gen-deploy-files"
    );
    assert!(committed.contains("kind: PrometheusRule"));
}

#[test]
fn service_monitor_scrapes_the_named_port_as_the_job_the_alerts_expect() {
    let monitor = std::fs::read_to_string(project("deploy/kubernetes/servicemonitor.yaml")).unwrap();
    let service = std::fs::read_to_string(project("deploy/kubernetes/service.yaml")).unwrap();
    let rules = std::fs::read_to_string(project("deploy/prometheus/rules.yml")).unwrap();
    assert!(monitor.contains("- port: metrics") && service.contains("name: metrics"));
    assert!(monitor.contains("replacement: tencentcloud-partner"));
    assert!(rules.contains("job=\"tencentcloud-partner\""));
}

#[test]
fn service_monitor_and_prometheus_rule_match_their_crd_schemas() {
    let (ok, text) = run("python3", &["scripts/check-crds"]);
    assert!(ok, "scripts/check-crds:\n{text}");
    assert_eq!(text.matches(": valid ").count(), 2, "{text}");
}

/// The binary `scripts/build-static` makes: what the image ships.
fn static_binary() -> PathBuf {
    // Without the variables cargo sets for a test (build.rs's revision among
    // them), the build is the one scripts/test ran before the tests, not a
    // second one.
    let cargo_test_variables = std::env::vars().map(|(k, _)| k).filter(|k| {
        [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
            "CARGO_TARGET_TMPDIR",
            "CARGO_PRIMARY_",
        ]
        .iter()
        .any(|prefix| k.starts_with(prefix))
            || k == "LD_LIBRARY_PATH"
            || k == "TENCENTCLOUD_PARTNER_EXPORTER_REVISION"
            || k == "OUT_DIR"
    });
    let mut command = Command::new(project("scripts/build-static"));
    for variable in cargo_test_variables {
        command.env_remove(variable);
    }
    let output = command.output().expect("scripts/build-static runs");
    assert!(
        output.status.success(),
        "scripts/build-static failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    project(&path)
}

#[test]
fn the_static_binary_needs_no_shared_library_and_serves_the_demo() {
    let binary = static_binary();
    let (_, ldd) = run("ldd", &[binary.to_str().unwrap()]);
    assert!(!ldd.contains("=>"), "linked to shared libraries:\n{ldd}");
    let version = Command::new(&binary).arg("--version").output().unwrap();
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("tencentcloud-partner-exporter "));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(&binary)
        .args(["--demo", &format!("--web.listen-address=127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let served = loop {
        let (_, body) = run("curl", &["-sf", &url]);
        if body.contains("tencentcloud_partner_customer_credit_remaining_usd{") || std::time::Instant::now() > deadline
        {
            break body;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        served.contains("tencentcloud_partner_customer_credit_remaining_usd{"),
        "the static binary served no customer in demo mode:\n{served}"
    );
}

/// `scripts/build-image` builds with the crate's version as the tag and the
/// commit as the revision, each a build argument the Dockerfile declares,
/// and pushes the name given; without a registry in the name it refuses to
/// push, in one line.
#[test]
fn the_image_script_bakes_in_the_version_and_revision_and_pushes_the_name_given() {
    let script = project("scripts/build-image");
    let image = "registry.example.com:5000/monitoring/tencentcloud-partner-exporter";
    let output = Command::new(&script)
        .args(["--dry-run", "--push", image])
        .env("CONTAINER_ENGINE", "docker")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let commands = String::from_utf8(output.stdout).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let (_, head) = run("git", &["rev-parse", "--short=12", "HEAD"]);
    let tagged = format!("{image}:{version}");
    let lines: Vec<&str> = commands.lines().collect();
    assert_eq!(lines.len(), 2, "{commands}");
    assert!(lines[0].starts_with("docker build "), "{commands}");
    assert!(
        lines[0].contains(&format!("--build-arg VERSION={version} ")),
        "{commands}"
    );
    assert!(
        lines[0].contains(&format!("--build-arg REVISION={}", head.trim())),
        "{commands}"
    );
    assert!(lines[0].ends_with(&format!("-t {tagged} .")), "{commands}");
    assert_eq!(lines[1], format!("docker push {tagged}"));
    let dockerfile = std::fs::read_to_string(project("Dockerfile")).unwrap();
    for arg in lines[0].split("--build-arg ").skip(1) {
        let name = arg.split('=').next().unwrap();
        assert!(
            dockerfile.contains(&format!("ARG {name}=")),
            "the Dockerfile has no ARG {name}"
        );
    }
    let refused = Command::new(&script)
        .args(["--dry-run", "--push", "tencentcloud-partner-exporter"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: --push needs an image name with your registry"),
        "{stderr}"
    );
}
