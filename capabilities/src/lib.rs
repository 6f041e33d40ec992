//! What cirrus offers, declared once as data (`data/*.json`) and rendered by every
//! protocol: the processes with their inputs and outputs (WPS 1.0/2.0, OGC API -
//! Processes, the CDS API forms).

pub mod cds;
pub mod palettes;

use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// The type of a process input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    String,
    Boolean,
    Integer,
    Number,
    /// A JSON document (a workflow).
    Json,
}

/// An input of a process.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Input {
    pub id: String,
    pub title: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: InputType,
    pub min: u32,
    pub max: u32,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub allowed: Option<Vec<String>>,
}

/// An output of a process.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Output {
    pub id: String,
    pub title: String,
    pub description: String,
    pub mime_type: String,
}

/// A process offered by the server.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Process {
    pub id: String,
    pub title: String,
    pub description: String,
    pub version: String,
    pub keywords: Vec<String>,
    pub inputs: Vec<Input>,
    /// Resolved from `"standard"` to the standard outputs.
    #[serde(skip_deserializing)]
    pub outputs: Vec<Output>,
}

#[derive(Deserialize)]
struct ProcessFile {
    processes: Vec<Process>,
    standard_outputs: Vec<Output>,
}

/// All processes, in the order they are listed.
pub fn processes() -> &'static [Process] {
    static P: OnceLock<Vec<Process>> = OnceLock::new();
    P.get_or_init(|| {
        let file: ProcessFile = serde_json::from_str(include_str!("../data/processes.json"))
            .unwrap_or_else(|e| panic!("capabilities/data/processes.json is invalid: {e}"));
        file.processes
            .into_iter()
            .map(|mut p| {
                p.outputs = file.standard_outputs.clone();
                p
            })
            .collect()
    })
}

/// A process by id.
pub fn process(id: &str) -> Option<&'static Process> {
    processes().iter().find(|p| p.id == id)
}

impl Process {
    /// An input by id.
    pub fn input(&self, id: &str) -> Option<&Input> {
        self.inputs.iter().find(|i| i.id == id)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn processes_load() {
        let ps = super::processes();
        assert!(ps.len() >= 4);
        let s = super::process("subset").expect("subset");
        assert_eq!(s.input("collection").expect("collection").min, 1);
        assert_eq!(s.outputs.len(), 2);
        assert!(super::process("average").expect("average").input("dims").expect("dims").allowed.is_some());
    }
}
