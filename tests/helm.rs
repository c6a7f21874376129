//! The Helm chart (deploy/helm/tencentcloud-partner-exporter) and the
//! kustomize base, proven as a user installs them: `helm lint --strict` with
//! the default values and every example; what `helm template` renders passes
//! `kubernetes-validate --strict`, and its ServiceMonitor and PrometheusRule
//! their CRD schemas; the rules and dashboards it renders are the project's
//! files, byte for byte; a misspelt or mistyped value fails; `appVersion` is
//! the crate's version. helm and kubectl are installed by `scripts/test`;
//! without them these tests fail.

mod support;

use std::path::Path;
use std::process::Command;
use support::tools::{project, run};

const CHART: &str = "deploy/helm/tencentcloud-partner-exporter";

/// The chart rendered with `args`; panics with helm's message if it fails.
fn template(args: &[&str]) -> String {
    let mut all = vec!["template", "t", CHART, "--namespace", "monitoring"];
    all.extend_from_slice(args);
    let output = Command::new("helm")
        .args(&all)
        .current_dir(project(""))
        .output()
        .expect("helm must be installed (scripts/test installs it)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "helm {all:?}:\n{stderr}");
    String::from_utf8(output.stdout).unwrap()
}

fn documents(rendered: &str) -> Vec<serde_yaml_ng::Value> {
    serde_yaml_ng::Deserializer::from_str(rendered)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|d: &serde_yaml_ng::Value| !d.is_null())
        .collect()
}

fn kinds(rendered: &str) -> Vec<String> {
    let mut kinds: Vec<String> = documents(rendered)
        .iter()
        .map(|d| d["kind"].as_str().unwrap().to_owned())
        .collect();
    kinds.sort();
    kinds
}

fn examples() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(project("deploy/helm/examples"))
        .unwrap()
        .map(|e| format!("deploy/helm/examples/{}", e.unwrap().file_name().to_string_lossy()))
        .filter(|f| f.ends_with(".yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    files
}

/// Writes `rendered` to a file and checks it as the cluster would: every
/// built-in kind with kubernetes-validate, the Operator's kinds with their CRD schemas.
fn assert_valid(rendered: &str, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.yaml"));
    std::fs::write(&file, rendered).unwrap();
    let file = file.to_str().unwrap();
    let (ok, text) = run("kubernetes-validate", &["--strict", file]);
    assert!(ok, "kubernetes-validate {name}:\n{text}");
    let operator = ["ServiceMonitor", "PrometheusRule"];
    let kinds = kinds(rendered);
    let builtin = kinds.iter().filter(|k| !operator.contains(&k.as_str())).count();
    assert_eq!(
        text.matches(" passed for resource ").count(),
        builtin,
        "{name}:\n{text}"
    );
    let (ok, text) = run("python3", &["scripts/check-crds", file]);
    assert!(ok, "CRD schemas, {name}:\n{text}");
    let custom = kinds.iter().filter(|k| operator.contains(&k.as_str())).count();
    assert_eq!(text.matches(": valid ").count(), custom, "{name}:\n{text}");
}

#[test]
fn the_chart_lints_strictly_with_the_defaults_and_every_example() {
    let (ok, text) = run("helm", &["lint", "--strict", CHART]);
    assert!(ok, "helm lint --strict:\n{text}");
    for example in examples() {
        let (ok, text) = run("helm", &["lint", "--strict", CHART, "-f", &example]);
        assert!(ok, "helm lint --strict -f {example}:\n{text}");
    }
}

#[test]
fn the_defaults_install_without_the_operator_and_validate() {
    let rendered = template(&[]);
    assert_eq!(
        kinds(&rendered),
        ["Deployment", "NetworkPolicy", "PersistentVolumeClaim", "Service"],
        "no CRD needed by default; the key's Secret is referenced, not created"
    );
    assert!(
        rendered.contains("secretName: t-tencentcloud-partner-exporter\n"),
        "{rendered}"
    );
    assert!(rendered.contains("type: Recreate"), "one pod on one volume");
    assert!(rendered.contains("--cache.snapshot-dir=/var/lib/tencentcloud-partner-exporter"));
    assert!(rendered.contains("claimName: t-tencentcloud-partner-exporter"));
    assert_valid(&rendered, "defaults");
}

#[test]
fn every_example_renders_objects_that_validate() {
    for example in examples() {
        let rendered = template(&["-f", &example]);
        let name = Path::new(&example).file_stem().unwrap().to_str().unwrap().to_owned();
        assert_valid(&rendered, &name);
    }
}

#[test]
fn the_operator_objects_and_dashboards_are_the_projects_files() {
    let rendered = template(&[
        "--set",
        "serviceMonitor.enabled=true,prometheusRule.enabled=true,dashboards.enabled=true",
        "--set",
        "credentials.secretId=AKIDEXAMPLE,credentials.secretKey=example",
    ]);
    assert_eq!(
        kinds(&rendered),
        [
            "ConfigMap",
            "ConfigMap",
            "Deployment",
            "NetworkPolicy",
            "PersistentVolumeClaim",
            "PrometheusRule",
            "Secret",
            "Service",
            "ServiceMonitor"
        ]
    );
    assert_valid(&rendered, "everything");
    let docs = documents(&rendered);
    let rule = docs.iter().find(|d| d["kind"] == "PrometheusRule").unwrap();
    let rules: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(project("deploy/prometheus/rules.yml")).unwrap()).unwrap();
    assert_eq!(
        rule["spec"], rules,
        "the PrometheusRule's spec is deploy/prometheus/rules.yml"
    );
    for dashboard in [
        "tencentcloud-partner-overview.json",
        "tencentcloud-partner-customer.json",
    ] {
        let map = docs
            .iter()
            .find(|d| d["kind"] == "ConfigMap" && !d["data"][dashboard].is_null())
            .unwrap_or_else(|| panic!("no ConfigMap holds {dashboard}"));
        assert_eq!(map["metadata"]["labels"]["grafana_dashboard"], "1");
        let file = std::fs::read_to_string(project(&format!("dashboards/{dashboard}"))).unwrap();
        assert_eq!(
            map["data"][dashboard].as_str().unwrap(),
            file.trim_end(),
            "{dashboard} as it is"
        );
    }
    let monitor = docs.iter().find(|d| d["kind"] == "ServiceMonitor").unwrap();
    let relabel = &monitor["spec"]["endpoints"][0]["relabelings"][0];
    assert_eq!(
        relabel["replacement"], "tencentcloud-partner",
        "the job the alerts expect"
    );
}

#[test]
fn a_misspelt_or_mistyped_value_fails() {
    for (set, complaint) in [
        ("servicemonitor.enabled=true", "servicemonitor"),
        ("persistence.enable=false", "enable"),
        ("service.port=metrics", "/service/port"),
        ("collectors.voucher=true", "voucher"),
        ("intervals.vouchers=often", "/intervals/vouchers"),
    ] {
        let output = Command::new("helm")
            .args(["template", "t", CHART, "--set", set])
            .current_dir(project(""))
            .output()
            .expect("helm must be installed (scripts/test installs it)");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "--set {set} was accepted");
        assert!(stderr.contains(complaint), "--set {set}: {stderr}");
    }
}

#[test]
fn the_charts_app_version_is_the_crates_version() {
    let chart: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(project(&format!("{CHART}/Chart.yaml"))).unwrap()).unwrap();
    assert_eq!(chart["appVersion"].as_str(), Some(env!("CARGO_PKG_VERSION")));
    let rendered = template(&[]);
    assert!(rendered.contains(&format!(
        "image: \"tencentcloud-partner-exporter:{}\"",
        env!("CARGO_PKG_VERSION")
    )));
}

#[test]
fn the_flags_the_chart_writes_are_the_binarys() {
    let rendered = template(&[
        "-f",
        "deploy/helm/examples/tls-basic-auth.yaml",
        "-f",
        "deploy/helm/examples/one-account.yaml",
    ]);
    let help = Command::new(env!("CARGO_BIN_EXE_tencentcloud-partner-exporter"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let flags: Vec<&str> = rendered
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- ")?.trim_matches('"').strip_prefix("--"))
        .map(|flag| flag.split('=').next().unwrap())
        .collect();
    assert!(flags.len() >= 6, "{flags:?}");
    for flag in flags {
        assert!(
            help.contains(&format!("--{flag}")),
            "the chart writes --{flag}, which --help does not list"
        );
    }
}

#[test]
fn the_kustomize_base_renders_and_validates() {
    let (ok, rendered) = run("kubectl", &["kustomize", "deploy/kubernetes"]);
    assert!(ok, "kubectl kustomize:\n{rendered}");
    assert_eq!(
        kinds(&rendered),
        [
            "Deployment",
            "NetworkPolicy",
            "PrometheusRule",
            "Service",
            "ServiceMonitor"
        ]
    );
    assert_valid(&rendered, "kustomize");
}

/// The README's shell snippets, each with its continued lines joined.
fn readme_commands() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(project("README.md")).unwrap();
    readme
        .split("```sh\n")
        .skip(1)
        .map(|block| {
            let block = block.split("```").next().unwrap().replace("\\\n", " ");
            block
                .lines()
                .map(|line| line.split(" #").next().unwrap().trim().to_owned())
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .collect()
        })
        .collect()
}

/// The names of the Secrets `rendered` mounts or reads from.
fn secrets_used(value: &serde_yaml_ng::Value, names: &mut Vec<String>) {
    match value {
        serde_yaml_ng::Value::Mapping(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    (Some("secretName"), serde_yaml_ng::Value::String(name)) => names.push(name.clone()),
                    (Some("secretKeyRef"), ref_) => names.extend(ref_["name"].as_str().map(str::to_owned)),
                    _ => secrets_used(value, names),
                }
            }
        }
        serde_yaml_ng::Value::Sequence(items) => items.iter().for_each(|v| secrets_used(v, names)),
        _ => {}
    }
}

/// Run as the README writes them, the kustomize and Helm installs leave the
/// key the user created in force: what they apply holds no Secret (a
/// placeholder would replace the key), and the Deployment reads the one the
/// snippet's `kubectl create secret` made.
#[test]
fn the_readmes_installs_leave_the_users_key_in_force() {
    let mut installs = Vec::new();
    for commands in readme_commands() {
        let Some(created) = commands
            .iter()
            .find_map(|c| c.split("create secret generic ").nth(1))
            .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
        else {
            continue;
        };
        let install = commands
            .iter()
            .find(|c| c.contains("apply -k") || c.contains("helm install"));
        let install = install.expect("a snippet that creates a Secret installs the exporter");
        let words: Vec<&str> = install.split_whitespace().collect();
        let rendered = if install.contains("apply -k") {
            let dir = words[words.iter().position(|w| *w == "-k").unwrap() + 1];
            let (ok, rendered) = run("kubectl", &["kustomize", dir]);
            assert!(ok, "kubectl kustomize {dir}:\n{rendered}");
            rendered
        } else {
            let mut args = words[words.iter().position(|w| *w == "install").unwrap() + 1..].to_vec();
            args.insert(0, "template");
            let output = Command::new("helm")
                .args(&args)
                .current_dir(project(""))
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "helm {args:?}:\n{stderr}");
            String::from_utf8(output.stdout).unwrap()
        };
        let documents = documents(&rendered);
        let secrets: Vec<_> = documents.iter().filter(|d| d["kind"] == "Secret").collect();
        assert!(secrets.is_empty(), "`{install}` would replace the key:\n{secrets:?}");
        let mut used = Vec::new();
        documents.iter().for_each(|d| secrets_used(d, &mut used));
        assert!(!used.is_empty(), "`{install}` reads no Secret");
        assert!(
            used.iter().all(|name| *name == created),
            "`{install}` reads {used:?}, not the {created} just created"
        );
        installs.push(install.clone());
    }
    assert_eq!(installs.len(), 2, "the Helm and kustomize installs: {installs:?}");
}

#[test]
fn the_chart_carries_the_customer_thresholds_file_as_the_exporter_reads_it() {
    let rendered = template(&["-f", "deploy/helm/examples/one-account.yaml"]);
    let documents = documents(&rendered);
    let config_map = documents
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "t-tencentcloud-partner-exporter-thresholds")
        .expect("a ConfigMap of thresholds");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("thresholds.yml");
    std::fs::write(&file, config_map["data"]["thresholds.yml"].as_str().unwrap()).unwrap();
    let thresholds = tencentcloud_partner_exporter::thresholds::Thresholds::load(&file).unwrap();
    // The UIN is still the integer it was, though Helm reads numbers as floats.
    assert_eq!(
        thresholds.of(800000000001, "trial"),
        [("credit_remaining_ratio", 0.5), ("credit_days_left", 30.0)]
    );
    assert_eq!(thresholds.of(1, "trial-7"), [("credit_remaining_ratio", 0.02)]);
    assert!(
        rendered.contains("--customers.thresholds-file=/etc/tencentcloud-partner-exporter/thresholds/thresholds.yml")
    );
    assert!(
        !template(&[]).contains("thresholds"),
        "no file unless thresholds are given"
    );
}

/// The chart carries copies of the rules and dashboards, not links: helm
/// warns about every symbolic link at every render. The copies are the
/// project's files, byte for byte.
#[test]
fn the_charts_rules_and_dashboards_are_copies_of_the_projects() {
    let files = project(&format!("{CHART}/files"));
    for (copy, source) in [
        ("rules.yml", "deploy/prometheus/rules.yml"),
        (
            "tencentcloud-partner-overview.json",
            "dashboards/tencentcloud-partner-overview.json",
        ),
        (
            "tencentcloud-partner-customer.json",
            "dashboards/tencentcloud-partner-customer.json",
        ),
    ] {
        let copy = files.join(copy);
        assert!(
            !copy.is_symlink(),
            "{} is a link: helm warns at every render",
            copy.display()
        );
        assert_eq!(
            std::fs::read(&copy).unwrap(),
            std::fs::read(project(source)).unwrap(),
            "{} is not {source}: run scripts/gen-deploy-files",
            copy.display()
        );
    }
    let output = Command::new("helm")
        .args(["template", "t", CHART])
        .current_dir(project(""))
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "",
        "helm template says nothing on stderr"
    );
}

/// Thresholds and the runbook's address given in values reach the rules the
/// chart renders; every other rule is rules.yml's, as it is.
#[test]
fn the_chart_sets_thresholds_and_the_runbook_address_from_values() {
    let runbook = "https://git.example.com/monitoring/runbook.md";
    let rendered = template(&[
        "--set",
        "prometheusRule.enabled=true",
        "--set",
        "prometheusRule.thresholds.customer_credit_days_left=14",
        "--set",
        "prometheusRule.thresholds.spend_spike_min_usd=2.5",
        "--set",
        &format!("prometheusRule.runbookUrl={runbook}"),
    ]);
    let docs = documents(&rendered);
    let spec = &docs.iter().find(|d| d["kind"] == "PrometheusRule").unwrap()["spec"];
    let rules: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(project("deploy/prometheus/rules.yml")).unwrap()).unwrap();
    let all = |spec: &serde_yaml_ng::Value| -> Vec<serde_yaml_ng::Value> {
        let groups = spec["groups"].as_sequence().unwrap();
        groups
            .iter()
            .flat_map(|g| g["rules"].as_sequence().unwrap().clone())
            .collect()
    };
    let (given, ours) = (all(spec), all(&rules));
    assert_eq!(given.len(), ours.len());
    let mut changed = Vec::new();
    for (rule, original) in given.iter().zip(&ours) {
        let name = rule["record"].as_str().or(rule["alert"].as_str()).unwrap();
        if rule == original {
            continue;
        }
        changed.push(name.to_owned());
        if rule["alert"].is_string() {
            let url = rule["annotations"]["runbook_url"].as_str().unwrap();
            assert!(url.starts_with(&format!("{runbook}#")), "{name}: {url}");
            assert_eq!(rule["expr"], original["expr"], "{name}");
        }
    }
    let expr = |name: &str| {
        let rule = given.iter().find(|r| r["record"] == name).unwrap();
        rule["expr"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        expr("tencentcloud_partner:threshold:customer_credit_days_left"),
        "vector(14)"
    );
    assert_eq!(
        expr("tencentcloud_partner:threshold:spend_spike_min_usd"),
        "vector(2.5)"
    );
    let alerts = ours.iter().filter(|r| r["alert"].is_string()).count();
    assert_eq!(
        changed.len(),
        alerts + 2,
        "the two thresholds and every alert's runbook_url: {changed:?}"
    );
    let misspelt = "prometheusRule.thresholds.customer_credit_days_lef=14";
    let (ok, text) = run("helm", &["template", "t", CHART, "--set", misspelt]);
    assert!(
        !ok && text.contains("customer_credit_days_lef"),
        "a misspelt threshold fails:\n{text}"
    );
}

/// The chart's notes say the image names no registry, and what to set, until
/// `image.repository` names one.
#[test]
fn the_charts_notes_say_to_push_the_image_until_a_registry_is_named() {
    let notes = |args: &[&str]| {
        let mut all = vec!["install", "t", CHART, "--dry-run=client", "--namespace", "monitoring"];
        all.extend_from_slice(args);
        let output = Command::new("helm")
            .args(&all)
            .current_dir(project(""))
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let text = String::from_utf8(output.stdout).unwrap();
        text.split("NOTES:").nth(1).expect("the chart's notes").to_owned()
    };
    let default = notes(&[]);
    assert!(default.contains("names no registry"), "{default}");
    assert!(default.contains("scripts/build-image --push"), "{default}");
    assert!(default.contains("--set image.repository="), "{default}");
    let pushed = notes(&[
        "--set",
        "image.repository=registry.example.com/monitoring/tencentcloud-partner-exporter",
    ]);
    assert!(!pushed.contains("names no registry"), "{pushed}");
}
