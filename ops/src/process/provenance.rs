//! W3C PROV-JSON provenance of a process run: the input datasets and their files (with
//! checksums), each operation with its parameters, the software, and the outputs.

use super::output::{sha256_file, OutputFile};
use crate::model::Dataset;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

type FileKey = (PathBuf, u64, SystemTime);

/// SHA-256 of input files, remembered by path, size and mtime (part of the
/// [`crate::Engine`]).
#[derive(Default)]
pub struct Checksums(Mutex<HashMap<FileKey, String>>);

impl Checksums {
    /// The checksum of a file (computed once per path, size and mtime).
    pub fn of(&self, path: &std::path::Path, size: u64, mtime: SystemTime) -> Option<String> {
        let key = (path.to_path_buf(), size, mtime);
        if let Some(s) = self.0.lock().ok()?.get(&key) {
            return Some(s.clone());
        }
        let sum = sha256_file(path).ok()?;
        self.0.lock().ok()?.insert(key, sum.clone());
        Some(sum)
    }
}

/// One operation of a run, for the provenance record.
#[derive(Clone, Debug)]
pub struct Step {
    /// Step id (the process id for a single operation).
    pub label: String,
    /// The operation (`subset`, `average`, ...).
    pub operation: String,
    pub parameters: Map<String, Value>,
    /// Dataset ids or names of earlier outputs used.
    pub inputs: Vec<String>,
    /// Names of files produced.
    pub outputs: Vec<String>,
    pub started: String,
    pub ended: String,
}

/// Builds a PROV-JSON document.
pub struct Provenance {
    doc: Map<String, Value>,
    n: usize,
}

fn entry(doc: &mut Map<String, Value>, kind: &str, id: &str, value: Value) {
    let section = doc.entry(kind).or_insert_with(|| json!({}));
    if let Some(m) = section.as_object_mut() {
        m.insert(id.to_string(), value);
    }
}

impl Provenance {
    /// A document with the software and provider agents.
    pub fn new(software_version: &str, provider: &str) -> Provenance {
        let mut doc = Map::new();
        doc.insert(
            "prefix".into(),
            json!({
                "cirrus": "urn:cirrus:",
                "provone": "https://purl.dataone.org/provone/2015/01/15/ontology#",
                "dcterms": "http://purl.org/dc/terms/",
                "xsd": "http://www.w3.org/2001/XMLSchema#"
            }),
        );
        let mut p = Provenance { doc, n: 0 };
        let sw = format!("cirrus:cirrus_v{software_version}");
        entry(
            &mut p.doc,
            "agent",
            &sw,
            json!({"prov:type": {"$": "prov:SoftwareAgent", "type": "xsd:QName"}, "prov:label": "cirrus", "dcterms:hasVersion": software_version}),
        );
        entry(
            &mut p.doc,
            "agent",
            "cirrus:provider",
            json!({"prov:type": {"$": "prov:Organization", "type": "xsd:QName"}, "prov:label": provider}),
        );
        p.relation("actedOnBehalfOf", json!({"prov:delegate": sw, "prov:responsible": "cirrus:provider"}));
        p
    }

    fn relation(&mut self, kind: &str, value: Value) {
        self.n += 1;
        let id = format!("_:id{}", self.n);
        entry(&mut self.doc, kind, &id, value);
    }

    fn software(&self) -> String {
        self.doc["agent"]
            .as_object()
            .and_then(|a| a.keys().find(|k| k.starts_with("cirrus:cirrus_v")).cloned())
            .unwrap_or_default()
    }

    /// Record an input dataset and its files with their checksums (files not hashed
    /// before are hashed in parallel).
    pub fn dataset(&mut self, ds: &Dataset, checksums: &Checksums) {
        use rayon::prelude::*;
        let id = format!("cirrus:{}", ds.id);
        let files: Vec<Value> = ds
            .files
            .par_iter()
            .map(|f| json!({"name": f.rel, "size": f.size, "sha256": checksums.of(&f.path, f.size, f.mtime).unwrap_or_default()}))
            .collect();
        entry(
            &mut self.doc,
            "entity",
            &id,
            json!({"prov:type": {"$": "provone:Data", "type": "xsd:QName"}, "prov:label": ds.id, "cirrus:files": files, "cirrus:version": ds.etag}),
        );
    }

    /// Record a step with its parameters, inputs and outputs.
    pub fn step(&mut self, step: &Step, files: &[OutputFile]) {
        self.n += 1;
        let act = format!("cirrus:{}_{}", step.label, self.n);
        let mut attrs = json!({"prov:type": {"$": "provone:Execution", "type": "xsd:QName"}, "prov:label": step.label, "cirrus:operation": step.operation, "prov:startTime": step.started, "prov:endTime": step.ended});
        if let Some(m) = attrs.as_object_mut() {
            for (k, v) in &step.parameters {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Array(a) => a
                        .iter()
                        .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                        .collect::<Vec<_>>()
                        .join(","),
                    other => other.to_string(),
                };
                m.insert(format!("cirrus:{k}"), json!(text));
            }
        }
        entry(&mut self.doc, "activity", &act, attrs);
        let sw = self.software();
        self.relation("wasAssociatedWith", json!({"prov:activity": act, "prov:agent": sw}));
        for input in &step.inputs {
            self.relation("used", json!({"prov:activity": act, "prov:entity": format!("cirrus:{input}")}));
        }
        for name in &step.outputs {
            let out = format!("cirrus:{name}");
            let f = files.iter().find(|f| f.name == *name);
            entry(
                &mut self.doc,
                "entity",
                &out,
                json!({"prov:type": {"$": "provone:Data", "type": "xsd:QName"}, "prov:label": name, "cirrus:size": f.map(|f| f.size), "cirrus:sha256": f.map(|f| f.sha256.clone())}),
            );
            self.relation("wasGeneratedBy", json!({"prov:entity": out, "prov:activity": act}));
            for input in &step.inputs {
                self.relation("wasDerivedFrom", json!({"prov:generatedEntity": out, "prov:usedEntity": format!("cirrus:{input}"), "prov:activity": act}));
            }
        }
    }

    /// The finished document.
    pub fn finish(self) -> Value {
        Value::Object(self.doc)
    }
}
