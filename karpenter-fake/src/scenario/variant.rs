//! Variants: the same scenario with its manifests patched.

use karpenter_core::api::parse::{self, closest};

use super::load::{Prepared, parse_problem, typed, validation};
use super::locate::LineIndex;
use super::{Problem, ScenarioError};

impl Prepared {
    /// The same scenario (same workload, same seed) with `patch` applied:
    /// a YAML stream of partial manifests, each naming the manifest it
    /// changes by `kind` and `metadata.name` (and `metadata.namespace`,
    /// default `default`), merged into it as a JSON merge patch (RFC 7396:
    /// mappings merge, anything else replaces, `null` deletes). `file`
    /// names the patch in messages.
    ///
    /// ```
    /// # use karpenter_fake::scenario::Prepared;
    /// # let base = Prepared::from_str(r#"
    /// # apiVersion: simulate.karpenter.sh/v1
    /// # kind: Scenario
    /// # start: "2026-03-02T09:00:00Z"
    /// # duration: 10m
    /// # nodeGroups: [{name: web}]
    /// # metrics: [{query: load, csv: "../karpenter-fake/tests/scenarios/load.csv"}]
    /// # manifests:
    /// # - kind: HorizontalAutoscaler
    /// #   metadata: {name: web}
    /// #   spec:
    /// #     scaleTargetRef: {kind: ScalableNodeGroup, name: web}
    /// #     maxReplicas: 10
    /// #     metrics: [{prometheus: {query: load, target: {type: Value, value: 10}}}]
    /// # "#, "s.yaml", env!("CARGO_MANIFEST_DIR").as_ref()).unwrap();
    /// let pid = base.with_patch(
    ///     "kind: HorizontalAutoscaler\nmetadata: {name: web}\nspec: {algorithm: {type: PID}}\n",
    ///     "pid.yaml",
    /// )?;
    /// let err = base.with_patch("kind: HorizontalAutoscaler\nmetadata: {name: wbe}\nspec: {maxReplicas: 0}\n", "bad.yaml").unwrap_err();
    /// assert!(err.to_string().contains("bad.yaml:2: document 1: metadata.name: no HorizontalAutoscaler named default/wbe"), "{err}");
    /// # Ok::<(), karpenter_fake::scenario::ScenarioError>(())
    /// ```
    pub fn with_patch(&self, patch: &str, file: &str) -> Result<Prepared, ScenarioError> {
        let mut out = self.clone();
        let mut problems = Vec::new();
        let mut any = false;
        for doc in parse::yaml_documents(patch) {
            if doc.is_empty() {
                continue;
            }
            any = true;
            let index = LineIndex::new(doc.text).offset(doc.line_offset);
            let at = |path: &str, message: String| Problem {
                file: file.to_string(),
                line: index.line_of(path),
                path: format!("document {}: {path}", doc.index),
                message,
            };
            let value: serde_json::Value = match parse::from_str(doc.text) {
                Ok(v) => v,
                Err(e) => {
                    let e = e.offset_lines(doc.line_offset);
                    problems.push(parse_problem(file, &e, &format!("document {}", doc.index)));
                    continue;
                }
            };
            let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or("");
            let meta = value.get("metadata");
            let name = meta
                .and_then(|m| m.get("name"))
                .and_then(|n| n.as_str())
                .unwrap_or("");
            let namespace = meta
                .and_then(|m| m.get("namespace"))
                .and_then(|n| n.as_str())
                .unwrap_or("default");
            if kind.is_empty() || name.is_empty() {
                problems.push(at(
                    if kind.is_empty() { "kind" } else { "metadata.name" },
                    "a patch names the manifest it changes: set kind and metadata.name (e.g. kind: HorizontalAutoscaler, metadata: {name: web})".to_string(),
                ));
                continue;
            }
            let same_kind: Vec<String> = out
                .manifests
                .iter()
                .filter(|m| m.json.get("kind").and_then(|k| k.as_str()) == Some(kind))
                .map(|m| {
                    let meta = m.json.get("metadata");
                    format!(
                        "{}/{}",
                        meta.and_then(|x| x.get("namespace"))
                            .and_then(|x| x.as_str())
                            .unwrap_or("default"),
                        meta.and_then(|x| x.get("name"))
                            .and_then(|x| x.as_str())
                            .unwrap_or("")
                    )
                })
                .collect();
            let key = format!("{namespace}/{name}");
            let Some(position) = same_kind.iter().position(|k| *k == key) else {
                let known: Vec<&str> = same_kind.iter().map(String::as_str).collect();
                let hint = match closest(&key, &known) {
                    Some(s) => format!("; did you mean {s}?"),
                    None if known.is_empty() => format!("; the scenario has no {kind}"),
                    None => format!(" (the scenario has {})", known.join(", ")),
                };
                problems.push(at(
                    "metadata.name",
                    format!("no {kind} named {key} in the scenario to patch{hint}"),
                ));
                continue;
            };
            let Some(target) = out
                .manifests
                .iter_mut()
                .filter(|m| m.json.get("kind").and_then(|k| k.as_str()) == Some(kind))
                .nth(position)
            else {
                continue;
            };
            json_patch::merge(&mut target.json, &value);
            match typed(&target.json) {
                Err((path, message)) => {
                    problems.push(at(&path, format!("after the patch: {message}")));
                }
                Ok(object) => {
                    for (path, message) in validation(&object) {
                        problems.push(at(&path, format!("after the patch: {message}")));
                    }
                    target.object = object;
                }
            }
        }
        if !any {
            problems.push(Problem {
                file: file.to_string(),
                line: None,
                path: String::new(),
                message: "the patch is empty: write partial manifests, e.g. kind: HorizontalAutoscaler, metadata: {name: web}, spec: {algorithm: {type: PID}}".to_string(),
            });
        }
        if problems.is_empty() {
            problems.extend(out.link());
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(ScenarioError::Invalid(problems))
        }
    }
}
