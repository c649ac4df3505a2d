//! The JSON Schema of routes.yaml (`strangler schema`): the committed copy
//! an editor uses is the one the binary prints, and the shipped routes.yaml
//! and every routes.yaml in the README validate against it, while known
//! mistakes do not.

use std::process::Command;

fn schema() -> serde_json::Value {
    let o = Command::new(env!("CARGO_BIN_EXE_strangler"))
        .arg("schema")
        .output()
        .expect("run strangler schema");
    assert!(o.status.success());
    serde_json::from_slice(&o.stdout).expect("the schema is JSON")
}

fn yaml(text: &str) -> serde_json::Value {
    let v: serde_yaml::Value = serde_yaml::from_str(text).expect("YAML");
    serde_json::to_value(v).expect("as JSON")
}

fn errors(validator: &jsonschema::Validator, doc: &serde_json::Value) -> Vec<String> {
    validator.iter_errors(doc).map(|e| e.to_string()).collect()
}

#[test]
fn the_committed_schema_is_the_generated_one() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schema/routes.schema.json"
    ))
    .expect("schema/routes.schema.json");
    let committed: serde_json::Value = serde_json::from_str(&committed).expect("JSON");
    assert_eq!(
        committed,
        schema(),
        "schema/routes.schema.json is stale: run `strangler schema > schema/routes.schema.json`"
    );
}

#[test]
fn the_shipped_config_and_the_readme_examples_validate() {
    let validator = jsonschema::validator_for(&schema()).expect("a valid schema");
    let root = env!("CARGO_MANIFEST_DIR");
    let shipped = std::fs::read_to_string(format!("{root}/routes.yaml")).unwrap();
    assert_eq!(errors(&validator, &yaml(&shipped)), Vec::<String>::new());
    assert!(shipped.starts_with("# yaml-language-server: $schema=./schema/routes.schema.json"));
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let mut checked = 0;
    for block in readme.split("```yaml\n").skip(1) {
        let text = block.split("```").next().unwrap_or_default();
        // Whole configurations only (fragments are shown for one key).
        if text.contains("\nroutes:") && text.starts_with("listen:") {
            assert_eq!(
                errors(&validator, &yaml(text)),
                Vec::<String>::new(),
                "{text}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 1, "no routes.yaml in the README");
}

#[test]
fn mistakes_do_not_validate() {
    let validator = jsonschema::validator_for(&schema()).expect("a valid schema");
    let base = "listen: 127.0.0.1:8080\nupstreams:\n  a: { url: http://127.0.0.1:9000 }\nroutes:\n  - name: all\n    match: { path_prefix: / }\n    upstream: a\n";
    assert!(errors(&validator, &yaml(base)).is_empty());
    for (what, bad) in [
        ("an unknown key", base.replace("upstream: a", "upstrem: a")),
        (
            "a duration with a space",
            base.replace(
                "url: http://127.0.0.1:9000",
                "url: http://127.0.0.1:9000, timeout: 5 s",
            ),
        ),
        (
            "a zero duration",
            base.replace(
                "url: http://127.0.0.1:9000",
                "url: http://127.0.0.1:9000, timeout: 0s",
            ),
        ),
        (
            "a relative prefix",
            base.replace("path_prefix: /", "path_prefix: orders"),
        ),
        ("event_bus at the top", format!("event_bus: memory\n{base}")),
    ] {
        assert!(
            !errors(&validator, &yaml(&bad)).is_empty(),
            "{what} validated:\n{bad}"
        );
    }
}
