//! The metrics the operator's workbook (infra/workbook/o365.workbook.json)
//! queries, read from its KQL: shared by the template checks and by the
//! packaged host's run, so both test the same list.

use std::path::Path;

/// Metric names a KQL query filters on: `metric == 'x'` and
/// `metric in ('x', 'y')`.
pub fn queried_metrics(kql: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (i, _) in kql.match_indices("metric == '") {
        let rest = &kql[i + "metric == '".len()..];
        names.push(rest[..rest.find('\'').unwrap()].to_string());
    }
    for (i, _) in kql.match_indices("metric in (") {
        let rest = &kql[i + "metric in (".len()..];
        for quoted in rest[..rest.find(')').unwrap()].split(',') {
            names.push(quoted.trim().trim_matches('\'').to_string());
        }
    }
    names
}

/// Every metric the workbook's query tiles filter on, each tile checked to
/// honour the tenant and source pickers.
pub fn workbook_metrics(repo: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(repo.join("infra/workbook/o365.workbook.json"))
        .expect("infra/workbook/o365.workbook.json");
    let workbook: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(workbook["version"], "Notebook/1.0");
    assert_eq!(workbook["fallbackResourceIds"][0], "__APP_INSIGHTS_ID__");
    let mut queried = Vec::new();
    for item in workbook["items"].as_array().expect("items") {
        if let Some(query) = item["content"]["query"].as_str()
            && item["type"] == 3
        {
            assert!(
                query.contains("{Tenant}") && query.contains("{Source}"),
                "query `{}` ignores the tenant or source filter",
                item["name"]
            );
            queried.extend(queried_metrics(query));
        }
    }
    queried.sort();
    queried.dedup();
    queried
}
