//! Execute and the job operations: a WPS Execute becomes a job through
//! [`crate::processing::submit`] (inputs as the protocol-neutral JSON map, repeated
//! inputs as lists), is waited for or followed, and the job's state is rendered as the
//! version's documents (WPS 1.0.0 `ExecuteResponse` and status documents, WPS 2.0.0
//! `StatusInfo` and `Result`).

use super::error::{from_submit, Code, WpsError};
use super::{
    no_store, respond, v1, v2, xml_ok, Execute, Input, InputValue, Mode, OutputRequest, ResponseForm, Version,
};
use crate::access::Access;
use crate::jobs::{Job, Status, StoreError};
use crate::processing::{metalink, submit, wait};
use crate::state::State;
use axum::body::Body;
use axum::http::{Response, StatusCode};
use cirrus_capabilities::{InputType, Output, Process};
use serde_json::{Map, Value};
use std::time::Duration;

/// A process by identifier (locator `Identifier` when unknown).
pub fn process(version: Version, id: &str) -> Result<&'static Process, WpsError> {
    cirrus_capabilities::process(id).ok_or_else(|| {
        let known: Vec<&str> = cirrus_capabilities::processes().iter().map(|p| p.id.as_str()).collect();
        WpsError::new(
            Code::NoSuchProcess,
            Some("Identifier"),
            &format!("unknown process '{id}' (processes: {})", known.join(", ")),
        )
        .in_version(version)
    })
}

/// The URL of an output of a job: the Metalink (`output`) or the provenance (`prov`).
pub fn output_url(base: &str, job: &str, output: &str) -> String {
    let file = if output == "prov" { "provenance.json" } else { "output.meta4" };
    format!("{base}/results/{job}/{file}")
}

/// Where a WPS 1.0.0 client follows a job.
pub fn status_location(base: &str, job: &str) -> String {
    format!("{base}/wps/status/{job}.xml")
}

fn store_error(e: &StoreError) -> WpsError {
    WpsError::new(Code::NoApplicableCode, None, &e.to_string())
}

fn no_such_job(id: &str) -> WpsError {
    WpsError::new(Code::NoSuchJob, Some("jobId"), &format!("there is no job '{id}' (finished jobs expire)"))
}

/// The outputs a request names (all when it names none).
fn outputs<'p>(p: &'p Process, requested: &[OutputRequest]) -> Result<Vec<&'p Output>, WpsError> {
    if requested.is_empty() {
        return Ok(p.outputs.iter().collect());
    }
    requested
        .iter()
        .map(|r| {
            p.outputs.iter().find(|o| o.id == r.id).ok_or_else(|| {
                let known: Vec<&str> = p.outputs.iter().map(|o| o.id.as_str()).collect();
                WpsError::new(
                    Code::NoSuchOutput,
                    Some(&r.id),
                    &format!("process '{}' has no output '{}' (outputs: {})", p.id, r.id, known.join(", ")),
                )
            })
        })
        .collect()
}

/// The inputs as `processing::submit` takes them: one entry per input id, a string for
/// a single occurrence and a list for repeated ones; JSON inputs (workflows) parsed.
pub fn inputs_map(p: &Process, inputs: &[Input]) -> Result<Map<String, Value>, WpsError> {
    let mut grouped: Vec<(&str, Vec<Value>)> = Vec::new();
    for i in inputs {
        let Some(def) = p.input(&i.id) else {
            let known: Vec<&str> = p.inputs.iter().map(|d| d.id.as_str()).collect();
            return Err(WpsError::new(
                Code::NoSuchInput,
                Some(&i.id),
                &format!("process '{}' has no input '{}' (inputs: {})", p.id, i.id, known.join(", ")),
            ));
        };
        let text = match &i.value {
            InputValue::Literal(s) => s,
            InputValue::Complex { content, .. } => content,
            InputValue::Reference(url) => {
                return Err(WpsError::invalid(
                    &i.id,
                    &format!("input '{}': inputs by reference ({url}) are not supported; give the value inline", i.id),
                ))
            }
        };
        let value = match def.kind {
            // an invalid document is reported by validation, with the parser's message
            InputType::Json => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone())),
            _ => Value::String(text.clone()),
        };
        match grouped.iter_mut().find(|(id, _)| *id == i.id) {
            Some((_, values)) => values.push(value),
            None => grouped.push((&i.id, vec![value])),
        }
    }
    let mut map = Map::new();
    for (id, mut values) in grouped {
        let max = p.input(id).map_or(1, |d| d.max.max(1));
        if values.len() > max as usize {
            return Err(WpsError::invalid(
                id,
                &format!(
                    "input '{id}' is given {} times; process '{}' takes it at most {max} times",
                    values.len(),
                    p.id
                ),
            ));
        }
        let v = if values.len() == 1 { values.remove(0) } else { Value::Array(values) };
        map.insert(id.to_string(), v);
    }
    Ok(map)
}

/// A finished job's failure as an error report (job errors are what users see).
fn job_failed(job: &Job, status: StatusCode) -> WpsError {
    let text = match job.status {
        Status::Dismissed => "the job was dismissed".to_string(),
        _ => job.error.clone().unwrap_or_else(|| "the process failed".into()),
    };
    WpsError::new(Code::NoApplicableCode, None, &text).with_status(status)
}

/// The raw content of an output of a successful job.
fn raw_output(st: &State, base: &str, job: &Job, output: &Output) -> Result<Response<Body>, WpsError> {
    if output.id == "prov" {
        let path = st.results_dir().join(&job.id).join("provenance.json");
        let bytes = std::fs::read(&path).map_err(|e| {
            WpsError::new(Code::NoApplicableCode, None, &format!("the provenance of job {} is missing: {e}", job.id))
        })?;
        return Ok(respond(StatusCode::OK, &output.mime_type, bytes));
    }
    Ok(respond(StatusCode::OK, &output.mime_type, metalink(base, job)))
}

/// Execute: submit the job, then answer at once (asynchronous) or when it is done
/// (synchronous; a job still running after `sync_timeout` is answered like an
/// asynchronous one, so the client can follow it).
pub async fn execute(
    st: &State,
    access: &Access,
    base: &str,
    version: Version,
    ex: Execute,
) -> Result<Response<Body>, WpsError> {
    let p = process(version, &ex.process)?;
    let (requested, raw) = match &ex.response {
        ResponseForm::Document(o) => (o.clone(), false),
        ResponseForm::Raw(o) => (vec![o.clone()], true),
    };
    let outs = outputs(p, &requested)?;
    let inputs = inputs_map(p, &ex.inputs)?;
    let job = submit(st, access, &p.id, inputs).map_err(|e| from_submit(&e))?;
    let ttl = st.config.results_ttl;
    let location = status_location(base, &job.id);
    let doc = |job: &Job| {
        let d = v1::ExecuteDoc {
            base,
            process: p,
            status_location: (ex.mode == Mode::Async || !job.status.is_final()).then(|| location.clone()),
            outputs: outs.clone(),
            lineage: ex.lineage.then_some((ex.inputs.as_slice(), requested.as_slice())),
        };
        xml_ok(v1::execute_response(&d, job))
    };
    if ex.mode == Mode::Async {
        return Ok(match version {
            Version::V1 => doc(&job),
            Version::V2 => xml_ok(v2::status_info(&job, ttl)),
        });
    }
    let done = wait(st, &job.id, Duration::from_secs(st.config.sync_timeout))
        .await
        .map_err(|e| store_error(&e))?
        .ok_or_else(|| WpsError::new(Code::NoApplicableCode, None, &format!("job {} disappeared", job.id)))?;
    match (done.status, version) {
        (Status::Successful, _) if raw => raw_output(st, base, &done, outs[0]),
        (Status::Failed | Status::Dismissed, _) if raw => Err(job_failed(&done, StatusCode::BAD_REQUEST)),
        (_, Version::V1) => Ok(doc(&done)),
        (Status::Successful, Version::V2) => Ok(xml_ok(v2::result(base, &done, &outs, ttl))),
        (Status::Failed | Status::Dismissed, Version::V2) => Err(job_failed(&done, StatusCode::BAD_REQUEST)),
        (Status::Accepted | Status::Running, Version::V2) => Ok(xml_ok(v2::status_info(&done, ttl))),
    }
}

/// A job by id, or NoSuchJob.
fn job(st: &State, id: &str) -> Result<Job, WpsError> {
    st.runner.store.get(id).map_err(|e| store_error(&e))?.ok_or_else(|| no_such_job(id))
}

/// A job of the caller by id, or NoSuchJob (another user's job is not revealed).
fn own_job(st: &State, access: &Access, id: &str) -> Result<Job, WpsError> {
    Some(job(st, id)?).filter(|j| access.owns(j.owner.as_deref())).ok_or_else(|| no_such_job(id))
}

/// `GET /wps/status/{job}.xml`: the WPS 1.0.0 ExecuteResponse of a job, as it is now.
pub fn status_document(st: &State, base: &str, id: &str) -> Result<Response<Body>, WpsError> {
    let job = job(st, id)?;
    let p = process(Version::V1, &job.process)?;
    let d = v1::ExecuteDoc {
        base,
        process: p,
        status_location: Some(status_location(base, id)),
        outputs: p.outputs.iter().collect(),
        lineage: None,
    };
    Ok(xml_ok(v1::execute_response(&d, &job)))
}

/// WPS 2.0.0 GetStatus.
pub fn get_status(st: &State, access: &Access, id: &str) -> Result<Response<Body>, WpsError> {
    let job = own_job(st, access, id)?;
    Ok(no_store(xml_ok(v2::status_info(&job, st.config.results_ttl))))
}

/// WPS 2.0.0 GetResult: the outputs of a successful job; ResultNotReady while it runs.
pub fn get_result(st: &State, access: &Access, base: &str, id: &str) -> Result<Response<Body>, WpsError> {
    let job = own_job(st, access, id)?;
    match job.status {
        Status::Successful => {
            let p = process(Version::V2, &job.process)?;
            let outs: Vec<&Output> = p.outputs.iter().collect();
            Ok(xml_ok(v2::result(base, &job, &outs, st.config.results_ttl)))
        }
        Status::Failed => Err(job_failed(&job, StatusCode::INTERNAL_SERVER_ERROR)),
        Status::Dismissed => Err(WpsError::new(Code::NoSuchJob, Some("jobId"), &format!("job '{id}' was dismissed"))),
        Status::Accepted | Status::Running => Err(WpsError::new(
            Code::ResultNotReady,
            Some("jobId"),
            &format!("job '{id}' is {}; GetStatus tells when it has finished", job.status.as_str()),
        )),
    }
}

/// WPS 2.0.0 Dismiss: cancel the job (or forget its results).
pub fn dismiss(st: &State, access: &Access, id: &str) -> Result<Response<Body>, WpsError> {
    own_job(st, access, id)?;
    if !st.runner.store.dismiss(id).map_err(|e| store_error(&e))? {
        return Err(no_such_job(id));
    }
    let _ = std::fs::remove_dir_all(st.results_dir().join(id));
    let job = job(st, id)?;
    Ok(no_store(xml_ok(v2::status_info(&job, st.config.results_ttl))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lit(id: &str, v: &str) -> Input {
        Input { id: id.into(), value: InputValue::Literal(v.into()) }
    }

    #[test]
    fn repeated_inputs_become_lists() {
        let p = cirrus_capabilities::process("average").expect("average");
        let m = inputs_map(p, &[lit("collection", "c1"), lit("dims", "latitude"), lit("dims", "longitude")])
            .expect("valid");
        assert_eq!(Value::Object(m), json!({"collection": "c1", "dims": ["latitude", "longitude"]}));
    }

    #[test]
    fn workflow_json_is_parsed() {
        let p = cirrus_capabilities::process("orchestrate").expect("orchestrate");
        let wf = r#"{"inputs": {"a": ["x"]}, "steps": {}, "outputs": {}}"#;
        let m = inputs_map(
            p,
            &[Input { id: "workflow".into(), value: InputValue::Complex { mime_type: None, content: wf.into() } }],
        )
        .expect("valid");
        assert_eq!(m["workflow"]["inputs"]["a"], json!(["x"]));
        let m = inputs_map(p, &[lit("workflow", "{not json")]).expect("left to validation");
        assert_eq!(m["workflow"], json!("{not json"));
    }

    #[test]
    fn input_errors() {
        let p = cirrus_capabilities::process("subset").expect("subset");
        let e = inputs_map(p, &[lit("colour", "red")]).expect_err("unknown input");
        assert_eq!((e.code, e.locator.as_deref()), (Code::NoSuchInput, Some("colour")));
        assert_eq!(e.clone().in_version(Version::V1).code.name(Version::V1), "InvalidParameterValue");
        let e = inputs_map(p, &[lit("time", "2015/2016"), lit("time", "2017/2018")]).expect_err("twice");
        assert_eq!((e.code, e.locator.as_deref()), (Code::InvalidParameterValue, Some("time")));
        let e = inputs_map(p, &[Input { id: "collection".into(), value: InputValue::Reference("http://x".into()) }])
            .expect_err("reference");
        assert!(e.text.contains("by reference"));
        assert_eq!(e.locator.as_deref(), Some("collection"));
    }

    #[test]
    fn outputs_and_processes() {
        let p = cirrus_capabilities::process("subset").expect("subset");
        assert_eq!(outputs(p, &[]).expect("all").len(), 2);
        let e = outputs(p, &[OutputRequest::new("plot")]).expect_err("unknown");
        assert_eq!((e.code, e.locator.as_deref()), (Code::NoSuchOutput, Some("plot")));
        let e = process(Version::V2, "nope").expect_err("unknown");
        assert_eq!((e.code.name(e.version), e.locator.as_deref()), ("NoSuchProcess", Some("Identifier")));
        assert_eq!(output_url("http://h", "j", "prov"), "http://h/results/j/provenance.json");
    }
}
