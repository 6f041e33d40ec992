//! WPS KVP requests (`?service=WPS&request=Execute&version=1.0.0&identifier=subset&
//! DataInputs=collection=...;time=2015/2020`): parameter names are case-insensitive;
//! `DataInputs` is a `;`-separated list of `id=value[@attribute=value...]` whose ids and
//! values may be URL-encoded a second time; repeated ids are repeated inputs.

use super::{error::Code, WpsError as E};
use super::{Execute, Input, InputValue, Mode, Operation, OutputRequest, Request, ResponseForm, Version, WpsError};
use percent_encoding::percent_decode_str;
use std::collections::HashMap;

/// Decode a query component (`+` is a space).
fn decode_form(s: &str) -> String {
    percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned()
}

/// Decode a part of `DataInputs` (`+` stays a plus: it was already decoded once).
fn decode_part(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Query parameters by lowercase name (the first occurrence wins).
fn params(query: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(decode_form(k).trim().to_ascii_lowercase()).or_insert_with(|| decode_form(v));
    }
    out
}

/// A KVP boolean (`true`/`false`, also `1`/`0`, any case).
fn boolean(p: &HashMap<String, String>, name: &str, locator: &str) -> Result<Option<bool>, WpsError> {
    match p.get(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if v == "true" || v == "1" => Ok(Some(true)),
        Some(v) if v == "false" || v == "0" || v.is_empty() => Ok(Some(false)),
        Some(v) => Err(E::invalid(locator, &format!("{locator} must be true or false, not '{v}'"))),
    }
}

/// An `@name=value` attribute (lowercase name, decoded value).
fn attribute(a: &str) -> (String, String) {
    let (k, v) = a.split_once('=').unwrap_or((a, ""));
    (decode_part(k).trim().to_ascii_lowercase(), decode_part(v))
}

/// Split `head@attr=value@...` into the (undecoded) head and its attributes.
fn with_attributes(part: &str) -> (&str, Vec<(String, String)>) {
    let mut pieces = part.split('@');
    let head = pieces.next().unwrap_or_default();
    (head, pieces.map(attribute).collect())
}

/// Parse `DataInputs`: `collection=a;time=2015/2020;dims=latitude;dims=longitude`,
/// optionally `id=value@mimeType=...` (attributes ignored) or `id=@xlink:href=URL`
/// (a reference).
pub fn data_inputs(s: &str) -> Result<Vec<Input>, WpsError> {
    let mut inputs = Vec::new();
    for part in s.split(';').filter(|p| !p.trim().is_empty()) {
        let (head, attrs) = with_attributes(part);
        let Some((id, value)) = head.split_once('=') else {
            return Err(E::invalid("DataInputs", &format!("'{part}' is not of the form id=value")));
        };
        let id = decode_part(id).trim().to_string();
        if id.is_empty() {
            return Err(E::invalid("DataInputs", &format!("'{part}' has no input identifier")));
        }
        let href = attrs.iter().find(|(k, _)| k == "href" || k == "xlink:href").map(|(_, v)| v.clone());
        let value = match href {
            Some(url) => InputValue::Reference(url),
            None => InputValue::Literal(decode_part(value)),
        };
        inputs.push(Input { id, value });
    }
    Ok(inputs)
}

/// Parse `ResponseDocument` / `RawDataOutput`: `output@asReference=true;prov`.
fn outputs(s: &str) -> Vec<OutputRequest> {
    s.split(';')
        .filter(|p| !p.trim().is_empty())
        .map(|part| {
            let (id, attrs) = with_attributes(part);
            let attr = |name: &str| attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            OutputRequest {
                id: decode_part(id).trim().to_string(),
                as_reference: attr("asreference").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
                mime_type: attr("mimetype"),
            }
        })
        .collect()
}

/// The version of a GetCapabilities: the first supported one of `AcceptVersions`, else
/// `version`, else 1.0.0.
fn negotiate(p: &HashMap<String, String>) -> Result<Version, WpsError> {
    if let Some(accept) = p.get("acceptversions").filter(|a| !a.trim().is_empty()) {
        return accept.split(',').find_map(Version::parse).ok_or_else(|| {
            WpsError::new(
                Code::VersionNegotiationFailed,
                Some("AcceptVersions"),
                &format!("none of the versions '{accept}' is supported: this server speaks WPS 1.0.0 and 2.0.0"),
            )
        });
    }
    match p.get("version").map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(Version::V1),
        Some(v) => Version::parse(v).ok_or_else(|| unsupported_version(v)),
    }
}

fn unsupported_version(v: &str) -> WpsError {
    WpsError::new(
        Code::VersionNegotiationFailed,
        Some("version"),
        &format!("version '{v}' is not supported: this server speaks WPS 1.0.0 and 2.0.0"),
    )
}

/// Parse a KVP request (the query string, or a form-encoded body).
pub fn parse(query: &str) -> Result<Request, WpsError> {
    let p = params(query);
    // errors are reported in the version the client asked for, when it is one we speak
    let hint = p.get("version").and_then(|v| Version::parse(v)).unwrap_or_default();
    parse_params(&p).map_err(|e| e.in_version(hint))
}

fn parse_params(p: &HashMap<String, String>) -> Result<Request, WpsError> {
    let get = |k: &str| p.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let Some(request) = get("request") else {
        return Err(E::missing(
            "request",
            "the parameter 'request' is missing (GetCapabilities, DescribeProcess, Execute; with version=2.0.0 also GetStatus, GetResult, Dismiss)",
        ));
    };
    match get("service") {
        None => return Err(E::missing("service", "the parameter 'service' is missing (service=WPS)")),
        Some(s) if !s.eq_ignore_ascii_case("WPS") => {
            return Err(E::invalid("service", &format!("service must be WPS, not '{s}'")))
        }
        Some(_) => {}
    }
    let request = request.to_ascii_lowercase();
    if request == "getcapabilities" {
        return Ok(Request { version: negotiate(p)?, op: Operation::GetCapabilities });
    }
    let version = match get("version") {
        None => return Err(E::missing("version", "the parameter 'version' is missing (1.0.0 or 2.0.0)")),
        Some(v) => Version::parse(v).ok_or_else(|| unsupported_version(v))?,
    };
    let job = || {
        get("jobid")
            .map(str::to_string)
            .ok_or_else(|| E::missing("jobId", "the parameter 'jobId' is missing").in_version(version))
    };
    let op = match request.as_str() {
        "describeprocess" => {
            let ids = get("identifier").ok_or_else(|| {
                E::missing("identifier", "the parameter 'identifier' is missing (process ids, comma separated, or ALL)")
            })?;
            Operation::DescribeProcess(
                ids.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
            )
        }
        "execute" => Operation::Execute(execute(p, version)?),
        "getstatus" | "getresult" | "dismiss" if version == Version::V1 => {
            return Err(WpsError::new(
                Code::OperationNotSupported,
                Some("request"),
                &format!("{request} is a WPS 2.0.0 operation: use version=2.0.0"),
            ))
        }
        "getstatus" => Operation::GetStatus(job()?),
        "getresult" => Operation::GetResult(job()?),
        "dismiss" => Operation::Dismiss(job()?),
        _ => {
            return Err(WpsError::new(
                Code::OperationNotSupported,
                Some("request"),
                &format!(
                    "operation '{}' is not supported (GetCapabilities, DescribeProcess, Execute, GetStatus, GetResult, Dismiss)",
                    p.get("request").map_or("", |s| s.trim())
                ),
            ))
        }
    };
    Ok(Request { version, op })
}

/// An Execute request: WPS 1.0.0 KVP (`storeExecuteResponse`, `status`, `lineage`,
/// `ResponseDocument`, `RawDataOutput`), with WPS 2.0.0 also `mode` and `response`.
fn execute(p: &HashMap<String, String>, version: Version) -> Result<Execute, WpsError> {
    let get = |k: &str| p.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let process = get("identifier")
        .ok_or_else(|| E::missing("identifier", "the parameter 'identifier' (the process) is missing"))?
        .to_string();
    let inputs = p.get("datainputs").map(|d| data_inputs(d)).transpose()?.unwrap_or_default();
    let lineage = boolean(p, "lineage", "lineage")?.unwrap_or(false);
    let document = get("responsedocument").map(outputs).unwrap_or_default();
    let raw = get("rawdataoutput").map(outputs);
    let mut mode = match version {
        Version::V1 => {
            let store = boolean(p, "storeexecuteresponse", "storeExecuteResponse")?.unwrap_or(false);
            let status = boolean(p, "status", "status")?.unwrap_or(false);
            if status && !store {
                return Err(E::invalid("status", "status=true needs storeExecuteResponse=true"));
            }
            if store && raw.is_some() {
                return Err(E::invalid(
                    "storeExecuteResponse",
                    "storeExecuteResponse=true needs a ResponseDocument, not a RawDataOutput",
                ));
            }
            if store {
                Mode::Async
            } else {
                Mode::Sync
            }
        }
        Version::V2 => match get("mode").map(str::to_ascii_lowercase).as_deref() {
            None | Some("sync") => Mode::Sync,
            Some("async") => Mode::Async,
            Some("auto") => Mode::Auto,
            Some(m) => {
                return Err(WpsError::new(
                    Code::NoSuchMode,
                    Some("mode"),
                    &format!("mode must be sync, async or auto, not '{m}'"),
                ))
            }
        },
    };
    let raw = match (raw, get("response").map(str::to_ascii_lowercase).as_deref()) {
        (Some(r), _) => Some(r),
        (None, Some("raw")) => Some(document.clone()),
        (None, None | Some("document")) => None,
        (None, Some(r)) => return Err(E::invalid("response", &format!("response must be document or raw, not '{r}'"))),
    };
    let response = match raw {
        Some(mut r) => {
            if !document.is_empty() && get("rawdataoutput").is_some() {
                return Err(E::invalid("RawDataOutput", "give either ResponseDocument or RawDataOutput, not both"));
            }
            if r.len() > 1 {
                return Err(E::invalid("RawDataOutput", "a raw response has exactly one output"));
            }
            if mode == Mode::Async {
                mode = Mode::Sync;
            }
            ResponseForm::Raw(r.pop().unwrap_or_else(|| OutputRequest::new("output")))
        }
        None => ResponseForm::Document(document),
    };
    Ok(Execute { process, inputs, mode, response, lineage })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(id: &str, v: &str) -> Input {
        Input { id: id.into(), value: InputValue::Literal(v.into()) }
    }

    fn exec(q: &str) -> Execute {
        match parse(q).expect("parses").op {
            Operation::Execute(e) => e,
            other => panic!("not an Execute: {other:?}"),
        }
    }

    #[test]
    fn data_inputs_repeated_encoded_and_attributes() {
        let got = data_inputs("collection=CMIP6.a.b;time=2015%2F2020;dims=latitude@datatype=string;dims=longitude;")
            .expect("parses");
        assert_eq!(
            got,
            vec![
                lit("collection", "CMIP6.a.b"),
                lit("time", "2015/2020"),
                lit("dims", "latitude"),
                lit("dims", "longitude")
            ]
        );
        // a value with ';', '=' and '@' encoded a second time
        let got = data_inputs("area=0.%2C49.%2C10.%2C65;variables=a%3Bb%3Dc%40d").expect("parses");
        assert_eq!(got, vec![lit("area", "0.,49.,10.,65"), lit("variables", "a;b=c@d")]);
        let got =
            data_inputs("workflow=@xlink:href=http%3A%2F%2Fx%2Fwf.json@mimeType=application/json").expect("parses");
        assert_eq!(got, vec![Input { id: "workflow".into(), value: InputValue::Reference("http://x/wf.json".into()) }]);
        let e = data_inputs("collection").expect_err("no '='");
        assert_eq!((e.code, e.locator.as_deref()), (Code::InvalidParameterValue, Some("DataInputs")));
    }

    #[test]
    fn execute_kvp_with_url_encoding() {
        let e = exec(
            "service=WPS&Request=Execute&VERSION=1.0.0&identifier=average&DataInputs=collection%3Dc1%3Bdims%3Dlatitude%3Bdims%3Dlongitude%40uom%3Dx&ResponseDocument=output@asReference=true;prov@asReference=true&storeExecuteResponse=true&status=true&lineage=true",
        );
        assert_eq!(e.process, "average");
        assert_eq!(e.inputs, vec![lit("collection", "c1"), lit("dims", "latitude"), lit("dims", "longitude")]);
        assert_eq!(e.mode, Mode::Async);
        assert!(e.lineage);
        let ResponseForm::Document(outs) = e.response else { panic!("a document") };
        assert_eq!(
            outs.iter().map(|o| (o.id.as_str(), o.as_reference)).collect::<Vec<_>>(),
            [("output", true), ("prov", true)]
        );
        // '+' in the query is a space; an encoded '+' stays a plus
        let e = exec("service=wps&request=execute&version=1.0.0&identifier=subset&datainputs=time=2015-01-01T00:00:00%2B00:00/;variables=a+b");
        assert_eq!(e.inputs, vec![lit("time", "2015-01-01T00:00:00+00:00/"), lit("variables", "a b")]);
        assert_eq!(e.mode, Mode::Sync);
    }

    #[test]
    fn raw_data_output() {
        let e = exec("service=WPS&request=Execute&version=1.0.0&identifier=subset&DataInputs=collection=x&RawDataOutput=output@mimeType=application/metalink%2Bxml");
        assert_eq!(
            e.response,
            ResponseForm::Raw(OutputRequest {
                id: "output".into(),
                as_reference: false,
                mime_type: Some("application/metalink+xml".into())
            })
        );
        let err = parse("service=WPS&request=Execute&version=1.0.0&identifier=subset&RawDataOutput=output&storeExecuteResponse=true")
            .expect_err("raw + store");
        assert_eq!(err.locator.as_deref(), Some("storeExecuteResponse"));
    }

    #[test]
    fn capabilities_and_describe() {
        let r = parse("service=WPS&request=GetCapabilities").expect("parses");
        assert_eq!(r, Request { version: Version::V1, op: Operation::GetCapabilities });
        let r = parse("SERVICE=WPS&REQUEST=GetCapabilities&AcceptVersions=3.0.0,2.0.0").expect("parses");
        assert_eq!(r.version, Version::V2);
        let r =
            parse("service=WPS&request=DescribeProcess&version=1.0.0&identifier=subset,%20average").expect("parses");
        assert_eq!(r.op, Operation::DescribeProcess(vec!["subset".into(), "average".into()]));
        let r = parse("service=WPS&request=GetStatus&version=2.0.0&jobId=abc").expect("parses");
        assert_eq!(r, Request { version: Version::V2, op: Operation::GetStatus("abc".into()) });
    }

    #[test]
    fn errors_have_codes_and_locators() {
        let cases = [
            ("", Code::MissingParameterValue, "request"),
            ("request=GetCapabilities", Code::MissingParameterValue, "service"),
            ("service=WMS&request=GetCapabilities", Code::InvalidParameterValue, "service"),
            ("service=WPS&request=DescribeProcess&version=1.0.0", Code::MissingParameterValue, "identifier"),
            ("service=WPS&request=DescribeProcess", Code::MissingParameterValue, "version"),
            ("service=WPS&request=Execute&version=1.0.0", Code::MissingParameterValue, "identifier"),
            ("service=WPS&request=GetMap&version=1.0.0", Code::OperationNotSupported, "request"),
            ("service=WPS&request=GetStatus&version=1.0.0&jobId=x", Code::OperationNotSupported, "request"),
            ("service=WPS&request=GetStatus&version=2.0.0", Code::MissingParameterValue, "jobId"),
            (
                "service=WPS&request=DescribeProcess&version=0.4.0&identifier=x",
                Code::VersionNegotiationFailed,
                "version",
            ),
            (
                "service=WPS&request=GetCapabilities&acceptversions=0.1.0",
                Code::VersionNegotiationFailed,
                "AcceptVersions",
            ),
            (
                "service=WPS&request=Execute&version=1.0.0&identifier=s&status=true",
                Code::InvalidParameterValue,
                "status",
            ),
            (
                "service=WPS&request=Execute&version=1.0.0&identifier=s&lineage=maybe",
                Code::InvalidParameterValue,
                "lineage",
            ),
            ("service=WPS&request=Execute&version=2.0.0&identifier=s&mode=later", Code::NoSuchMode, "mode"),
        ];
        for (q, code, locator) in cases {
            let e = parse(q).expect_err(q);
            assert_eq!((e.code, e.locator.as_deref()), (code, Some(locator)), "{q}");
        }
        assert_eq!(parse("service=WPS&request=GetStatus&version=2.0.0").expect_err("no job").version, Version::V2);
    }
}
