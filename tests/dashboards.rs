//! Dashboards and rules, proven against a real Prometheus: it scrapes the
//! exporter (running against the simulator) and loads `rules.yml`; then every
//! panel expression must evaluate and return data, and every rule must
//! evaluate without error. Needs the `prometheus` binary (Debian package
//! `prometheus`, installed by `scripts/test`): fails, never skips, without it.

mod support;

use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{Exporter, eventually, fast_settings, histories_without_total, start_api, voucher_listed_twice};
use tencentcloud_partner_exporter::simulator::Shape;

const DASHBOARDS: [&str; 2] = [
    "tencentcloud-partner-overview.json",
    "tencentcloud-partner-customer.json",
];

fn project(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn load_dashboards() -> Vec<(String, Value)> {
    DASHBOARDS
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(project("dashboards").join(name)).unwrap();
            let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not valid JSON: {e}"));
            (name.to_string(), json)
        })
        .collect()
}

/// Every panel, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        all.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            all.extend(nested);
        }
    }
    all
}

/// (dashboard, panel title, expression) of every query target.
fn expressions(dashboards: &[(String, Value)]) -> Vec<(String, String, String)> {
    let mut all = Vec::new();
    for (name, dashboard) in dashboards {
        for panel in panels(dashboard) {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"].as_str().unwrap_or_default().to_owned();
                all.push((
                    name.clone(),
                    panel["title"].as_str().unwrap_or_default().to_owned(),
                    expr,
                ));
            }
        }
    }
    all
}

#[test]
fn dashboards_are_well_formed_grafana_models() {
    let dashboards = load_dashboards();
    let mut uids = HashSet::new();
    for (name, d) in &dashboards {
        assert!(
            uids.insert(d["uid"].as_str().expect("a stable uid")),
            "{name}: duplicate uid"
        );
        assert!(
            d["schemaVersion"].as_u64().unwrap() >= 39,
            "{name}: current schemaVersion"
        );
        let vars = d["templating"]["list"].as_array().unwrap();
        let var = |n: &str| {
            vars.iter()
                .find(|v| v["name"] == n)
                .unwrap_or_else(|| panic!("{name}: no ${n} variable"))
        };
        assert_eq!(var("datasource")["type"], "datasource");
        assert_eq!(var("datasource")["query"], "prometheus");
        var("job");
        var("instance");
        var("account");

        let mut ids = HashSet::new();
        let mut boxes: Vec<(i64, i64, i64, i64, String)> = Vec::new();
        for panel in panels(d) {
            let title = panel["title"].as_str().unwrap_or_default().to_owned();
            assert!(
                ids.insert(panel["id"].as_i64().unwrap()),
                "{name}: duplicate panel id at {title}"
            );
            let g = &panel["gridPos"];
            let (x, y, w, h) = (
                g["x"].as_i64().unwrap(),
                g["y"].as_i64().unwrap(),
                g["w"].as_i64().unwrap(),
                g["h"].as_i64().unwrap(),
            );
            assert!(
                x >= 0 && w > 0 && x + w <= 24 && h > 0,
                "{name}: {title} does not fit the 24-column grid"
            );
            for (ox, oy, ow, oh, other) in &boxes {
                let overlap = x < ox + ow && *ox < x + w && y < oy + oh && *oy < y + h;
                assert!(!overlap, "{name}: {title} overlaps {other}");
            }
            boxes.push((x, y, w, h, title.clone()));
            if panel["type"] == "row" {
                continue;
            }
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "{name}: {title} uses a fixed datasource"
            );
            let targets = panel["targets"]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: {title} has no targets"));
            assert!(!targets.is_empty(), "{name}: {title} has no targets");
            for t in targets {
                assert!(
                    !t["expr"].as_str().unwrap_or_default().trim().is_empty(),
                    "{name}: {title} has an empty expression"
                );
                assert_eq!(
                    t["datasource"]["uid"], "${datasource}",
                    "{name}: {title} target uses a fixed datasource"
                );
                assert!(
                    !t["expr"].as_str().unwrap().contains("instance=\""),
                    "{name}: {title} hard-codes an instance"
                );
                let expr = t["expr"].as_str().unwrap();
                let data = expr.contains("tencentcloud_partner") && !expr.contains("build_info");
                assert!(
                    !data || expr.contains("account=~\"$account\""),
                    "{name}: {title} ignores the account variable: {expr}"
                );
            }
            assert!(
                panel["fieldConfig"]["defaults"].is_object(),
                "{name}: {title} sets no field defaults"
            );
        }
    }
}

/// The `prometheus` server, on a loopback port, killed on drop.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_prometheus(target: &str) -> Prometheus {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {rules}\nscrape_configs:\n  - job_name: tencentcloud-partner\n    static_configs:\n      - targets: ['{target}']\n",
        rules = project("deploy/prometheus/rules.yml").display()
    );
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus must be installed (Debian package prometheus; scripts/test installs it)");
    Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    }
}

async fn query(prometheus: &Prometheus, expr: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}/api/v1/query", prometheus.url))
        .query(&[("query", expr)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn substitute(expr: &str, instance: &str, customer: u64) -> String {
    expr.replace("$job", "tencentcloud-partner")
        .replace("$instance", instance)
        .replace("$customer_uin", &customer.to_string())
        .replace("$account", "default")
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "5s")
        .replace("$__range", "5m")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_and_rule_evaluates_against_a_real_prometheus() {
    let shape = Shape {
        customers: 60,
        vouchers_per_customer: 2.0,
        seed: 31,
    };
    let api = start_api(shape, fast_settings()).await;
    // One history answered without its total: one item refused, counted, so
    // that the panel of refusals has data too.
    api.sim.inject(histories_without_total(1));
    // A voucher listed twice at the first walk and its second read: a
    // listing anomaly, so that its line of that panel has data.
    api.sim.inject(voucher_listed_twice(2));
    // Every collector on, bills too, so that every panel and rule has data.
    let args: Vec<&str> = Exporter::FAST.iter().copied().chain(["--collector.bills"]).collect();
    let exporter = Exporter::start(&api, &args).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    let exported = exporter.scrape().await;
    assert!(
        !exported
            .series("tencentcloud_partner_customer_cost_month_to_date_usd")
            .is_empty()
    );
    let instance = exporter.addr.to_string();
    let prometheus = start_prometheus(&instance);

    // Enough scrapes for rate() over a minute and a few rule evaluations.
    eventually(Duration::from_secs(60), || async {
        let up = reqwest::get(format!("{}/api/v1/query?query=count_over_time(up[1m])", prometheus.url)).await;
        let Ok(up) = up else { return false };
        let body: Value = up.json().await.unwrap_or_default();
        body["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|n| n >= 12.0)
    })
    .await;

    let customer = api.sim.with_data(|d| {
        let with_voucher: HashSet<u64> = d.vouchers.values().map(|v| v.customer_uin).collect();
        d.customers
            .values()
            .filter(|c| c.credit_cents > 0 && c.recent_expiry.is_some() && with_voucher.contains(&c.uin))
            // One that spent in the week before today, for the days it has left.
            .filter(|c| {
                let today = api.sim.china_now().date();
                (1..=7).any(|back| c.day_cents(today - chrono::Days::new(back)) > 0)
            })
            // Not the one whose history was answered without its total.
            .find(|c| {
                exported
                    .customer("tencentcloud_partner_customer_credit_allocations", c.uin)
                    .is_some()
            })
            .map(|c| c.uin)
            .expect("the dataset has a customer with credit and vouchers")
    });

    let dashboards = load_dashboards();
    let names: BTreeSet<&str> = exported.samples.keys().map(|k| k.split('{').next().unwrap()).collect();
    let mut failures = Vec::new();
    for (dashboard, title, expr) in expressions(&dashboards) {
        for used in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
            if used.starts_with("tencentcloud_partner_") && !names.contains(used) {
                failures.push(format!("{dashboard} / {title}: {used} is not exported"));
            }
        }
        let answer = query(&prometheus, &substitute(&expr, &instance, customer)).await;
        if answer["status"] != "success" {
            failures.push(format!("{dashboard} / {title}: {expr}: {}", answer["error"]));
        } else if answer["data"]["result"].as_array().is_none_or(Vec::is_empty) {
            failures.push(format!("{dashboard} / {title}: no data for {expr}"));
        }
    }

    let rules: Value = reqwest::get(format!("{}/api/v1/rules", prometheus.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut count = 0;
    for group in rules["data"]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            count += 1;
            let name = rule["name"].as_str().unwrap();
            if rule["health"] != "ok" {
                failures.push(format!("rule {name}: health {} {}", rule["health"], rule["lastError"]));
            }
            let answer = query(&prometheus, rule["query"].as_str().unwrap()).await;
            if answer["status"] != "success" {
                failures.push(format!("rule {name}: {}", answer["error"]));
            }
        }
    }
    assert!(count >= 25, "only {count} rules loaded");
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
    exporter.stop().await;
}
