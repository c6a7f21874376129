//! The alerting rules and the Alertmanager example pass Prometheus' own tools,
//! and every alert carries what an on-call person needs. promtool and amtool
//! come from the Debian packages `prometheus` and `prometheus-alertmanager`
//! (installed by `scripts/test`); without them these tests fail.

use std::path::{Path, PathBuf};
use std::process::Command;

fn project(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn run(tool: &str, args: &[&str], dir: &Path) -> String {
    let output = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{tool} must be installed (scripts/test installs it): {e}"));
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{tool} {args:?} failed:\n{text}");
    text
}

#[test]
fn promtool_accepts_the_rules() {
    let text = run(
        "promtool",
        &["check", "rules", "rules.yml"],
        &project("deploy/prometheus"),
    );
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn promtool_rule_unit_tests_pass() {
    let text = run(
        "promtool",
        &["test", "rules", "rules_test.yml"],
        &project("deploy/prometheus"),
    );
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn amtool_accepts_the_alertmanager_example() {
    let text = run(
        "amtool",
        &["check-config", "alertmanager.yml"],
        &project("deploy/alertmanager"),
    );
    assert!(text.contains("SUCCESS"), "{text}");
}

/// The alerts of rules.yml, each as its block of lines.
fn alerts() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(project("deploy/prometheus/rules.yml")).unwrap();
    let mut alerts: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(name) = trimmed.strip_prefix("- alert: ") {
            alerts.push((name.trim().to_owned(), String::new()));
        } else if trimmed.starts_with("- record: ") || trimmed.starts_with("- name: ") {
            alerts.push((String::new(), String::new()));
        } else if let Some((_, block)) = alerts.last_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    alerts.retain(|(name, _)| !name.is_empty());
    alerts
}

#[test]
fn every_alert_has_a_duration_a_severity_annotations_and_a_runbook_section() {
    let runbook = std::fs::read_to_string(project("docs/runbook.md")).unwrap();
    let tests = std::fs::read_to_string(project("deploy/prometheus/rules_test.yml")).unwrap();
    let alerts = alerts();
    assert!(alerts.len() >= 15, "only {} alerts", alerts.len());
    for (name, block) in &alerts {
        assert!(block.contains("        for: "), "{name} has no `for`");
        assert!(
            block.contains("severity: warning") || block.contains("severity: critical"),
            "{name} has no severity"
        );
        assert!(
            block.contains("summary: ") && block.contains("description: "),
            "{name} lacks annotations"
        );
        let anchor = name.to_lowercase();
        assert!(
            block.contains(&format!("runbook_url: \"docs/runbook.md#{anchor}\"")),
            "{name}: runbook_url"
        );
        assert!(
            runbook.contains(&format!("\n## {name}\n")),
            "docs/runbook.md has no section for {name}"
        );
        let fired = format!("alertname: {name}\n        exp_alerts:\n          - exp_labels");
        assert!(tests.contains(&fired), "rules_test.yml never sees {name} fire");
        let quiet = format!("alertname: {name}\n        exp_alerts: []");
        assert!(tests.contains(&quiet), "rules_test.yml never sees {name} stay quiet");
    }
}
