//! Running a process from its inputs as every protocol gives them (names and string or
//! list values): validation against the declared capabilities, dataset resolution,
//! the operations, workflows, and the provenance record.

use super::average::{run_average, run_average_time};
use super::output::OutputFile;
use super::params::{Area, AvgDim, Freq, LevelParam, TimeComponents, TimeParam};
use super::provenance::{Provenance, Step};
use super::select::SubsetRequest;
use super::subset::run_subset;
use super::RunContext;
use crate::catalog::{dataset_from_files, Catalog};
use crate::model::Dataset;
use crate::{Error, Result};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// What a process run produced.
#[derive(Clone, Debug)]
pub struct ProcessOutput {
    pub files: Vec<OutputFile>,
    pub provenance: Value,
}

/// An input as text (lists joined with commas), if given.
pub fn text(inputs: &Map<String, Value>, key: &str) -> Option<String> {
    match inputs.get(key)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => Some(
            a.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect::<Vec<_>>().join(","),
        ),
        other => Some(other.to_string()),
    }
}

/// An input as a list (a JSON list, or text split on commas).
pub fn list(inputs: &Map<String, Value>, key: &str) -> Vec<String> {
    match inputs.get(key) {
        Some(Value::Array(a)) => a
            .iter()
            .flat_map(|v| {
                v.as_str().map_or_else(|| vec![v.to_string()], |s| s.split(',').map(str::to_string).collect())
            })
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        Some(_) => text(inputs, key)
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        None => vec![],
    }
}

/// A boolean input (`true`/`false`, `1`/`0`, `yes`/`no`).
pub fn boolean(inputs: &Map<String, Value>, key: &str) -> Result<Option<bool>> {
    match inputs.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => {
            let t = v.as_str().map_or_else(|| v.to_string(), str::to_string).trim().to_ascii_lowercase();
            match t.as_str() {
                "true" | "1" | "yes" => Ok(Some(true)),
                "false" | "0" | "no" | "" => Ok(Some(false)),
                _ => Err(Error::InvalidInput {
                    input: key.into(),
                    message: format!("'{t}' is not a boolean (true or false)"),
                }),
            }
        }
    }
}

fn invalid(input: &str) -> impl Fn(Error) -> Error + '_ {
    move |e| match e {
        Error::BadRequest(m) => Error::InvalidInput { input: input.to_string(), message: m },
        other => other,
    }
}

/// Check inputs against the process description and the vocabulary and parse them
/// into the request that is estimated and run.
pub fn validate(process: &str, inputs: &Map<String, Value>, catalog: &Catalog) -> Result<Request> {
    let p = cirrus_capabilities::process(process).ok_or_else(|| {
        let known: Vec<&str> = cirrus_capabilities::processes().iter().map(|p| p.id.as_str()).collect();
        Error::InvalidInput {
            input: "Identifier".into(),
            message: format!("unknown process '{process}' (processes: {})", known.join(", ")),
        }
    })?;
    for key in inputs.keys() {
        if p.input(key).is_none() {
            let known: Vec<&str> = p.inputs.iter().map(|i| i.id.as_str()).collect();
            return Err(Error::InvalidInput {
                input: key.clone(),
                message: format!("process '{process}' has no input '{key}' (inputs: {})", known.join(", ")),
            });
        }
    }
    for i in &p.inputs {
        let given = inputs.get(&i.id).is_some_and(|v| !v.is_null() && v.as_str() != Some(""));
        if i.min > 0 && !given && i.default.is_none() {
            return Err(Error::MissingInput(i.id.clone()));
        }
        if let (Some(allowed), true) = (&i.allowed, given) {
            for v in list(inputs, &i.id) {
                if !allowed.iter().any(|a| a.eq_ignore_ascii_case(&v)) {
                    return Err(Error::InvalidInput {
                        input: i.id.clone(),
                        message: format!("'{v}' is not allowed (allowed values: {})", allowed.join(", ")),
                    });
                }
            }
        }
        if i.kind == cirrus_capabilities::InputType::Boolean {
            boolean(inputs, &i.id)?;
        }
    }
    Request::parse(process, inputs, catalog)
}

/// One operation, parsed and checked once from a process's inputs; what the size
/// estimate and the run both use.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[allow(clippy::large_enum_variant)] // one per job: its size does not matter
pub enum Operation {
    Subset(SubsetRequest),
    /// Means over dimensions (`weighted`: by cell area along latitude).
    Average {
        dims: Vec<AvgDim>,
        weighted: bool,
    },
    /// Means over time periods.
    AverageTime(Freq),
    Regrid(super::regrid::RegridRequest),
    Reproject(super::regrid::ReprojectRequest),
    /// A climate index of all the input datasets together (DTR reads two).
    ClimateIndex(super::indices::IndexRequest),
    /// Empirical quantile mapping of each dataset against a reference dataset.
    BiasAdjustment(super::bias::BiasRequest),
    /// Statistics across all the input datasets.
    MultiModel(super::ensemble::EnsembleRequest),
}

impl Operation {
    /// The operation `name` (a process id or a workflow step's `run`) with its inputs.
    pub fn parse(name: &str, inputs: &Map<String, Value>) -> Result<Operation> {
        Ok(match name {
            "subset" => Operation::Subset(subset_request(inputs)?),
            "average" => Operation::Average {
                dims: list(inputs, "dims")
                    .iter()
                    .map(|d| AvgDim::parse(d))
                    .collect::<Result<_>>()
                    .map_err(invalid("dims"))?,
                weighted: boolean(inputs, "weighted")?.unwrap_or(false),
            },
            "weighted_average" => {
                Operation::Average { dims: vec![AvgDim::Latitude, AvgDim::Longitude], weighted: true }
            }
            "average_time" => {
                let f = text(inputs, "freq").ok_or_else(|| Error::MissingInput("freq".into()))?;
                Operation::AverageTime(Freq::parse(&f).map_err(invalid("freq"))?)
            }
            "regrid" => Operation::Regrid(super::regrid::regrid_request(inputs)?),
            "reproject" => Operation::Reproject(super::regrid::reproject_request(inputs)?),
            "climate_index" => Operation::ClimateIndex(super::indices::request(inputs)?),
            "bias_adjustment" => Operation::BiasAdjustment(super::bias::request(inputs)?),
            "multi_model_statistics" => Operation::MultiModel(super::ensemble::request(inputs)?),
            other => {
                return Err(Error::InvalidInput {
                    input: "run".into(),
                    message: format!("unknown operation '{other}'"),
                })
            }
        })
    }

    /// The part of each input dataset the operation reads (all of it but for subsets).
    pub fn selection(&self) -> SubsetRequest {
        match self {
            Operation::Subset(req) => req.clone(),
            Operation::ClimateIndex(req) => req.subset.clone(),
            Operation::BiasAdjustment(req) => req.subset.clone(),
            Operation::MultiModel(req) => req.subset.clone(),
            _ => SubsetRequest::default(),
        }
    }

    /// Run on the input datasets, writing into `ctx.out_dir`: once on each, or once on
    /// all of them for a climate index.
    pub fn run_all(&self, ctx: &mut RunContext, datasets: &[Arc<Dataset>]) -> Result<Vec<OutputFile>> {
        match self {
            Operation::ClimateIndex(req) => return super::indices::run_index(ctx, datasets, req),
            Operation::MultiModel(req) => return super::ensemble::run_ensemble(ctx, datasets, req),
            _ => {}
        }
        let mut files = Vec::new();
        for ds in datasets {
            files.extend(self.run(ctx, ds)?);
        }
        Ok(files)
    }

    /// Run on one dataset, writing into `ctx.out_dir`.
    pub fn run(&self, ctx: &mut RunContext, ds: &Arc<Dataset>) -> Result<Vec<OutputFile>> {
        match self {
            Operation::ClimateIndex(req) => super::indices::run_index(ctx, std::slice::from_ref(ds), req),
            Operation::BiasAdjustment(req) => super::bias::run_bias(ctx, ds, req),
            Operation::MultiModel(req) => super::ensemble::run_ensemble(ctx, std::slice::from_ref(ds), req),
            Operation::Subset(req) => run_subset(ctx, ds, req),
            Operation::Average { dims, weighted } => run_average(ctx, ds, dims, *weighted),
            Operation::AverageTime(freq) => run_average_time(ctx, ds, *freq),
            Operation::Regrid(req) => super::regrid::run_regrid(ctx, ds, req),
            Operation::Reproject(req) => super::regrid::run_reproject(ctx, ds, req),
        }
    }
}

impl TryFrom<(&str, &Map<String, Value>)> for Operation {
    type Error = Error;

    fn try_from((name, inputs): (&str, &Map<String, Value>)) -> Result<Operation> {
        Operation::parse(name, inputs)
    }
}

/// A checked process request: one operation on datasets of the catalog, or a workflow.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per job: its size does not matter
pub enum Request {
    Single {
        process: String,
        /// The input datasets (ids that exist in the caller's catalog view).
        collections: Vec<String>,
        operation: Operation,
        /// The other inputs as given, for the provenance record.
        parameters: Map<String, Value>,
    },
    Workflow(Workflow),
    /// Build the time-chunked copies of variables of a dataset (all that have time as
    /// their first of three or more dimensions when `variables` is empty).
    TimeseriesCopy {
        collection: String,
        variables: Vec<String>,
    },
}

impl Request {
    /// Parse and check a process's inputs against `catalog` (the caller's view).
    fn parse(process: &str, inputs: &Map<String, Value>, catalog: &Catalog) -> Result<Request> {
        if process == "orchestrate" {
            return Ok(Request::Workflow(workflow_of(inputs)?));
        }
        let collections = list(inputs, "collection");
        for id in &collections {
            catalog.get(id).map_err(|e| Error::InvalidInput { input: "collection".into(), message: e.to_string() })?;
        }
        let operation = Operation::parse(process, inputs)?;
        if let Operation::ClimateIndex(req) = &operation {
            let datasets: Vec<Arc<Dataset>> =
                collections.iter().map(|id| catalog.get(id).map(|e| e.dataset.clone())).collect::<Result<_>>()?;
            super::indices::check_collections(req.definition()?, &datasets)?;
        }
        if let Operation::MultiModel(super::ensemble::EnsembleRequest {
            grid: Some(crate::regrid::GridSpec::Dataset(id)),
            ..
        }) = &operation
        {
            catalog.get(id).map_err(|e| Error::InvalidInput {
                input: "grid".into(),
                message: format!("'{id}' is neither a grid name nor a dataset ({e})"),
            })?;
        }
        if matches!(operation, Operation::MultiModel(_)) && collections.len() < 2 {
            return Err(Error::InvalidInput {
                input: "collection".into(),
                message: "multi-model statistics need at least two datasets".into(),
            });
        }
        if let Operation::BiasAdjustment(req) = &operation {
            for (input, id) in [("reference", Some(&req.reference)), ("historical", req.historical.as_ref())] {
                if let Some(id) = id {
                    catalog.get(id).map_err(|e| Error::InvalidInput { input: input.into(), message: e.to_string() })?;
                }
            }
        }
        if let Operation::Regrid(super::regrid::RegridRequest { grid: crate::regrid::GridSpec::Dataset(id), .. }) =
            &operation
        {
            catalog.get(id).map_err(|e| Error::InvalidInput {
                input: "grid".into(),
                message: format!("'{id}' is neither a grid name nor a dataset ({e})"),
            })?;
        }
        let mut parameters = inputs.clone();
        parameters.remove("collection");
        Ok(Request::Single { process: process.to_string(), collections, operation, parameters })
    }

    /// Bytes (uncompressed) the request reads from its collections, as far as it can be
    /// told before running: the selected part of every collection (0 for workflows,
    /// whose later steps read earlier outputs). Selection errors are left to the run.
    pub fn input_bytes(&self, reader: &crate::read::Reader, catalog: &Catalog) -> u64 {
        let Request::Single { collections, operation, .. } = self else { return 0 };
        let size = |id: &String, req: &SubsetRequest| {
            catalog
                .get(id)
                .ok()
                .and_then(|e| super::select::select(reader, &e.dataset, req).ok().map(|s| s.size(&e.dataset)))
                .unwrap_or(0)
        };
        let req = operation.selection();
        let mut total: u64 = collections.iter().map(|id| size(id, &req)).sum();
        // what is read besides the selection: base and calibration periods, the reference
        let with_time = |t: &super::params::TimeParam| SubsetRequest { time: Some(t.clone()), ..req.clone() };
        match operation {
            Operation::ClimateIndex(ix) => {
                if let Some(base) = &ix.base_period {
                    total += collections.iter().map(|id| size(id, &with_time(base))).sum::<u64>();
                }
            }
            Operation::BiasAdjustment(b) => {
                let cal = with_time(&b.calibration);
                total += size(&b.reference, &cal);
                total += size(b.historical.as_ref().or(collections.first()).unwrap_or(&b.reference), &cal);
            }
            _ => {}
        }
        total
    }
}

/// The subset parameters of the inputs.
pub fn subset_request(inputs: &Map<String, Value>) -> Result<SubsetRequest> {
    Ok(SubsetRequest {
        time: text(inputs, "time").map(|t| TimeParam::parse(&t)).transpose().map_err(invalid("time"))?.flatten(),
        time_components: text(inputs, "time_components")
            .map(|t| TimeComponents::parse(&t))
            .transpose()
            .map_err(invalid("time_components"))?
            .flatten(),
        area: text(inputs, "area").map(|t| Area::parse(&t)).transpose().map_err(invalid("area"))?.flatten(),
        level: text(inputs, "level").map(|t| LevelParam::parse(&t)).transpose().map_err(invalid("level"))?.flatten(),
        variables: list(inputs, "variables"),
        mask_outside: boolean(inputs, "mask_outside")?.unwrap_or(false),
    })
}

/// Where a step's collection comes from: the catalog, or files of an earlier step.
enum Source {
    Dataset(Arc<Dataset>),
    Files(String, Vec<PathBuf>),
}

fn now() -> String {
    crate::clock::output_iso8601()
}

/// Run one operation on its sources, writing into `ctx.out_dir`.
fn run_sources(
    op: &Operation,
    sources: &[Source],
    ctx: &mut RunContext,
    prov: &mut Provenance,
) -> Result<Vec<OutputFile>> {
    let mut datasets = Vec::new();
    for source in sources {
        datasets.push(match source {
            Source::Dataset(ds) => {
                prov.dataset(ds, &ctx.engine.checksums);
                ds.clone()
            }
            Source::Files(id, paths) => Arc::new(dataset_from_files(id, paths)?),
        });
    }
    op.run_all(ctx, &datasets)
}

/// Run a checked request and record its provenance.
pub fn execute(request: &Request, ctx: &mut RunContext, provider: &str) -> Result<ProcessOutput> {
    let catalog = ctx.catalog;
    let mut prov = Provenance::new(env!("CARGO_PKG_VERSION"), provider);
    let (process, collections, operation, parameters) = match request {
        Request::Workflow(wf) => {
            let files = run_workflow(wf, catalog, ctx, &mut prov)?;
            return Ok(ProcessOutput { files, provenance: prov.finish() });
        }
        Request::TimeseriesCopy { collection, variables } => {
            let files = vec![timeseries_copy(ctx, collection, variables)?];
            return Ok(ProcessOutput { files, provenance: prov.finish() });
        }
        Request::Single { process, collections, operation, parameters } => {
            (process, collections, operation, parameters)
        }
    };
    let sources: Vec<Source> = collections
        .iter()
        .map(|id| catalog.get(id).map(|e| Source::Dataset(e.dataset.clone())))
        .collect::<Result<_>>()?;
    let started = now();
    let files = run_sources(operation, &sources, ctx, &mut prov)?;
    let step = Step {
        label: process.clone(),
        operation: process.clone(),
        parameters: parameters.clone(),
        inputs: collections.clone(),
        outputs: files.iter().map(|f| f.name.clone()).collect(),
        started,
        ended: now(),
    };
    prov.step(&step, &files);
    Ok(ProcessOutput { files, provenance: prov.finish() })
}

/// Build the time-chunked copies of a dataset's variables; the result is a
/// `timeseries.json` listing each copy (file, bytes, chunk shape, seconds).
fn timeseries_copy(ctx: &mut RunContext, collection: &str, variables: &[String]) -> Result<OutputFile> {
    let ds = ctx.catalog.get(collection)?.dataset;
    let vars = if variables.is_empty() { crate::timeseries::Copies::variables(&ds) } else { variables.to_vec() };
    if vars.is_empty() {
        return Err(Error::bad(format!(
            "dataset '{collection}' has no variable with time as the first of three or more dimensions"
        )));
    }
    let mut made = Vec::new();
    #[allow(clippy::cast_precision_loss)]
    let n = vars.len() as f64;
    for (k, v) in vars.iter().enumerate() {
        let engine = ctx.engine;
        let progress = &mut *ctx.progress;
        #[allow(clippy::cast_precision_loss)]
        let mut step = |f: f64| progress((k as f64 + f) / n, &format!("copying {v} of {collection}"));
        made.push(engine.series.build(&engine.reader, &ds, v, &mut step)?);
    }
    let name = "timeseries.json";
    let path = ctx.out_dir.join(name);
    let text = serde_json::to_vec_pretty(&serde_json::json!({"collection": collection, "copies": made}))
        .map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(&path, &text)?;
    Ok(OutputFile { name: name.into(), size: text.len() as u64, sha256: super::output::sha256_file(&path)? })
}

/// A workflow document: `inputs`, `steps` (`run`, `in`), `outputs`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Workflow {
    pub inputs: BTreeMap<String, Vec<String>>,
    pub steps: BTreeMap<String, (String, Map<String, Value>)>,
    /// The step whose output is the result.
    pub output: String,
}

fn workflow_of(inputs: &Map<String, Value>) -> Result<Workflow> {
    let bad = |m: String| Error::InvalidInput { input: "workflow".into(), message: m };
    let doc = match inputs.get("workflow") {
        Some(Value::String(s)) => serde_json::from_str::<Value>(s).map_err(|e| bad(format!("not valid JSON: {e}")))?,
        Some(v @ Value::Object(_)) => v.clone(),
        _ => return Err(Error::MissingInput("workflow".into())),
    };
    let obj = doc.as_object().ok_or_else(|| bad("must be a JSON object".into()))?;
    for k in ["steps", "inputs", "outputs"] {
        if !obj.contains_key(k) {
            return Err(bad(format!("'{k}' missing")));
        }
    }
    let wf_inputs: BTreeMap<String, Vec<String>> = obj["inputs"]
        .as_object()
        .ok_or_else(|| bad("'inputs' must be an object of lists of dataset ids".into()))?
        .iter()
        .map(|(k, v)| (k.clone(), list(&Map::from_iter([(k.clone(), v.clone())]), k)))
        .collect();
    let mut steps = BTreeMap::new();
    for (id, s) in obj["steps"].as_object().ok_or_else(|| bad("'steps' must be an object".into()))? {
        let run = s.get("run").and_then(Value::as_str).ok_or_else(|| bad(format!("step '{id}' has no 'run'")))?;
        const OPERATIONS: [&str; 9] = [
            "subset",
            "average",
            "average_time",
            "weighted_average",
            "regrid",
            "reproject",
            "climate_index",
            "bias_adjustment",
            "multi_model_statistics",
        ];
        if !OPERATIONS.contains(&run) {
            return Err(bad(format!(
                "step '{id}' runs '{run}', which is not an operation ({})",
                OPERATIONS.join(", ")
            )));
        }
        let ins = s.get("in").and_then(Value::as_object).cloned().unwrap_or_default();
        steps.insert(id.clone(), (run.to_string(), ins));
    }
    let outputs = obj["outputs"].as_object().ok_or_else(|| bad("'outputs' must be an object".into()))?;
    let out = outputs
        .values()
        .next_back()
        .and_then(Value::as_str)
        .ok_or_else(|| bad("'outputs' must name a step output, e.g. \"average_tas/output\"".into()))?;
    let output = out
        .strip_suffix("/output")
        .filter(|s| steps.contains_key(*s))
        .ok_or_else(|| bad(format!("output '{out}' does not name a step output")))?
        .to_string();
    let wf = Workflow { inputs: wf_inputs, steps, output };
    // every reference resolves and there is no cycle
    let mut seen = Vec::new();
    check_refs(&wf, &wf.output, &mut seen)?;
    Ok(wf)
}

fn check_refs(wf: &Workflow, step: &str, path: &mut Vec<String>) -> Result<()> {
    let bad = |m: String| Error::InvalidInput { input: "workflow".into(), message: m };
    if path.iter().any(|p| p == step) {
        return Err(bad(format!("step '{step}' depends on itself")));
    }
    let (_, ins) = wf.steps.get(step).ok_or_else(|| bad(format!("no step '{step}'")))?;
    path.push(step.to_string());
    for v in ins.values() {
        if let Some(s) = v.as_str() {
            if let Some(name) = s.strip_prefix("inputs/") {
                if !wf.inputs.contains_key(name) {
                    return Err(bad(format!("step '{step}' uses inputs/{name}, which is not in 'inputs'")));
                }
            } else if let Some(dep) = s.strip_suffix("/output") {
                check_refs(wf, dep, path)?;
            }
        }
    }
    path.pop();
    Ok(())
}

fn run_workflow(
    wf: &Workflow,
    catalog: &Catalog,
    ctx: &mut RunContext,
    prov: &mut Provenance,
) -> Result<Vec<OutputFile>> {
    let mut done: BTreeMap<String, Vec<OutputFile>> = BTreeMap::new();
    run_step(wf, &wf.output, catalog, ctx, prov, &mut done)?;
    // The final step's files are the result; intermediate ones are removed.
    let final_dir = ctx.out_dir.join(&wf.output);
    let files = done.remove(&wf.output).unwrap_or_default();
    for f in &files {
        std::fs::rename(final_dir.join(&f.name), ctx.out_dir.join(&f.name))?;
    }
    for step in wf.steps.keys() {
        let _ = std::fs::remove_dir_all(ctx.out_dir.join(step));
    }
    Ok(files)
}

fn run_step(
    wf: &Workflow,
    step: &str,
    catalog: &Catalog,
    ctx: &mut RunContext,
    prov: &mut Provenance,
    done: &mut BTreeMap<String, Vec<OutputFile>>,
) -> Result<()> {
    if done.contains_key(step) {
        return Ok(());
    }
    let (op, ins) = wf.steps.get(step).cloned().ok_or_else(|| Error::Internal(format!("no step {step}")))?;
    let mut inputs = Map::new();
    let mut sources = Vec::new();
    let mut used = Vec::new();
    for (k, v) in &ins {
        match v.as_str() {
            Some(s) if s.starts_with("inputs/") => {
                let ids = wf.inputs.get(&s["inputs/".len()..]).cloned().unwrap_or_default();
                if k == "collection" {
                    for id in &ids {
                        sources.push(Source::Dataset(catalog.get(id)?.dataset.clone()));
                        used.push(id.clone());
                    }
                } else {
                    inputs.insert(k.clone(), Value::String(ids.join(",")));
                }
            }
            Some(s) if s.ends_with("/output") => {
                let dep = &s[..s.len() - "/output".len()];
                run_step(wf, dep, catalog, ctx, prov, done)?;
                let files = done.get(dep).cloned().unwrap_or_default();
                let dir = ctx.out_dir.join(dep);
                sources.push(Source::Files(format!("{dep}/output"), files.iter().map(|f| dir.join(&f.name)).collect()));
                used.extend(files.iter().map(|f| f.name.clone()));
            }
            _ if k == "collection" => {
                for id in list(&Map::from_iter([(k.clone(), v.clone())]), k) {
                    sources.push(Source::Dataset(catalog.get(&id)?.dataset.clone()));
                    used.push(id);
                }
            }
            _ => {
                inputs.insert(k.clone(), v.clone());
            }
        }
    }
    let dir = ctx.out_dir.join(step);
    std::fs::create_dir_all(&dir)?;
    let started = now();
    let mut sub = RunContext {
        engine: ctx.engine,
        catalog: ctx.catalog,
        out_dir: &dir,
        file_limit: ctx.file_limit,
        history: ctx.history.clone(),
        progress: &mut *ctx.progress,
    };
    let operation = Operation::parse(&op, &inputs)?;
    let files = run_sources(&operation, &sources, &mut sub, prov)?;
    prov.step(
        &Step {
            label: step.to_string(),
            operation: op,
            parameters: inputs,
            inputs: used,
            outputs: files.iter().map(|f| f.name.clone()).collect(),
            started,
            ended: now(),
        },
        &files,
    );
    done.insert(step.to_string(), files);
    Ok(())
}
