//! WPS XML requests (`POST /wps`): `wps:GetCapabilities`, `wps:DescribeProcess` and
//! `wps:Execute` in the WPS 1.0.0 namespace, and those plus `wps:GetStatus`,
//! `wps:GetResult` and `wps:Dismiss` in the WPS 2.0 namespace. The root element's
//! namespace gives the version. Parsed with `roxmltree`; OWS elements are matched by
//! local name so that either OWS version is accepted.

use super::error::Code;
use super::{Execute, Input, InputValue, Mode, Operation, OutputRequest, Request, ResponseForm, Version, WpsError};
use super::{NS_WPS1, NS_WPS2, NS_XLINK};
use roxmltree::{Document, Node};

/// Element children of `n` with this local name (any namespace).
fn children<'a, 'i>(n: Node<'a, 'i>, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    n.children().filter(move |c| c.is_element() && c.tag_name().name() == name)
}

/// The first element child with this local name.
fn child<'a, 'i>(n: Node<'a, 'i>, name: &'a str) -> Option<Node<'a, 'i>> {
    children(n, name).next()
}

/// The text directly inside an element (text and CDATA sections), trimmed.
fn text(n: Node) -> String {
    n.children().filter(Node::is_text).filter_map(|c| c.text()).collect::<String>().trim().to_string()
}

/// The content of complex data: its text (CDATA), or the markup of its element
/// children as written.
fn content(doc: &Document, n: Node) -> String {
    let elems: Vec<Node> = n.children().filter(Node::is_element).collect();
    match (elems.first(), elems.last()) {
        (Some(first), Some(last)) => doc.input_text()[first.range().start..last.range().end].to_string(),
        _ => text(n),
    }
}

/// An attribute as a boolean (`true`/`false`/`1`/`0`); absent: `None`.
fn bool_attr(n: Node, name: &str) -> Result<Option<bool>, WpsError> {
    match n.attribute(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if v == "true" || v == "1" => Ok(Some(true)),
        Some(v) if v == "false" || v == "0" => Ok(Some(false)),
        Some(v) => Err(WpsError::invalid(name, &format!("{name} must be true or false, not '{v}'"))),
    }
}

/// The identifier (`ows:Identifier`) of an element.
fn identifier(n: Node) -> Option<String> {
    child(n, "Identifier").map(text).filter(|s| !s.is_empty())
}

/// A reference's URL (`xlink:href`, or a plain `href`).
fn href(n: Node) -> String {
    n.attribute((NS_XLINK, "href")).or_else(|| n.attribute("href")).unwrap_or_default().to_string()
}

/// Parse an XML request document.
pub fn parse(body: &str) -> Result<Request, WpsError> {
    let doc = Document::parse(body).map_err(|e| {
        WpsError::new(Code::NoApplicableCode, None, &format!("the request body is not well-formed XML: {e}"))
            .with_status(axum::http::StatusCode::BAD_REQUEST)
    })?;
    let root = doc.root_element();
    let version = match root.tag_name().namespace() {
        Some(NS_WPS1) => Version::V1,
        Some(NS_WPS2) => Version::V2,
        ns => {
            return Err(WpsError::new(
                Code::OperationNotSupported,
                Some("request"),
                &format!(
                    "the root element {{{}}}{} is not a WPS request (namespaces {NS_WPS1} and {NS_WPS2})",
                    ns.unwrap_or_default(),
                    root.tag_name().name()
                ),
            ))
        }
    };
    parse_root(&doc, root, version).map_err(|e| e.in_version(version))
}

fn parse_root(doc: &Document, root: Node, version: Version) -> Result<Request, WpsError> {
    if let Some(s) = root.attribute("service").map(str::trim) {
        if !s.eq_ignore_ascii_case("WPS") {
            return Err(WpsError::invalid("service", &format!("service must be WPS, not '{s}'")));
        }
    }
    let name = root.tag_name().name();
    if name == "GetCapabilities" {
        return Ok(Request { version: negotiate(root, version)?, op: Operation::GetCapabilities });
    }
    if let Some(v) = root.attribute("version").map(str::trim) {
        if v != version.as_str() {
            return Err(WpsError::new(
                Code::VersionNegotiationFailed,
                Some("version"),
                &format!(
                    "version '{v}' does not match the namespace {}, which is WPS {}",
                    root.tag_name().namespace().unwrap_or_default(),
                    version.as_str()
                ),
            ));
        }
    }
    let job = || {
        child(root, "JobID")
            .map(text)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| WpsError::missing("JobID", &format!("{name} needs a wps:JobID")))
    };
    let op = match (name, version) {
        ("DescribeProcess", _) => {
            let ids: Vec<String> = children(root, "Identifier").map(text).filter(|s| !s.is_empty()).collect();
            if ids.is_empty() {
                return Err(WpsError::missing("identifier", "DescribeProcess needs at least one ows:Identifier"));
            }
            Operation::DescribeProcess(ids)
        }
        ("Execute", Version::V1) => Operation::Execute(execute_v1(doc, root)?),
        ("Execute", Version::V2) => Operation::Execute(execute_v2(doc, root)?),
        ("GetStatus", Version::V2) => Operation::GetStatus(job()?),
        ("GetResult", Version::V2) => Operation::GetResult(job()?),
        ("Dismiss", Version::V2) => Operation::Dismiss(job()?),
        _ => {
            return Err(WpsError::new(
                Code::OperationNotSupported,
                Some("request"),
                &format!("operation '{name}' is not supported in WPS {}", version.as_str()),
            ))
        }
    };
    Ok(Request { version, op })
}

/// GetCapabilities: the first supported version of `AcceptVersions`, else the version
/// of the namespace.
fn negotiate(root: Node, version: Version) -> Result<Version, WpsError> {
    let Some(accept) = child(root, "AcceptVersions") else { return Ok(version) };
    let offered: Vec<String> = children(accept, "Version").map(text).collect();
    offered.iter().find_map(|v| Version::parse(v)).ok_or_else(|| {
        WpsError::new(
            Code::VersionNegotiationFailed,
            Some("AcceptVersions"),
            &format!("none of the versions {offered:?} is supported: this server speaks WPS 1.0.0 and 2.0.0"),
        )
    })
}

/// The value inside `wps:Data` (WPS 1.0.0: `wps:LiteralData`, `wps:ComplexData`).
fn data_v1(doc: &Document, id: &str, data: Node) -> Result<InputValue, WpsError> {
    if let Some(l) = child(data, "LiteralData") {
        return Ok(InputValue::Literal(text(l)));
    }
    if let Some(c) = child(data, "ComplexData") {
        return Ok(InputValue::Complex {
            mime_type: c.attribute("mimeType").map(str::to_string),
            content: content(doc, c),
        });
    }
    Err(WpsError::invalid(id, &format!("input '{id}': only wps:LiteralData and wps:ComplexData values are supported")))
}

fn execute_v1(doc: &Document, root: Node) -> Result<Execute, WpsError> {
    let process = identifier(root)
        .ok_or_else(|| WpsError::missing("Identifier", "Execute needs an ows:Identifier (the process)"))?;
    let mut inputs = Vec::new();
    for inp in child(root, "DataInputs").into_iter().flat_map(|d| children(d, "Input")) {
        let id = identifier(inp).ok_or_else(|| WpsError::missing("Identifier", "a wps:Input has no ows:Identifier"))?;
        let value = if let Some(data) = child(inp, "Data") {
            data_v1(doc, &id, data)?
        } else if let Some(r) = child(inp, "Reference") {
            InputValue::Reference(href(r))
        } else {
            return Err(WpsError::missing(&id, &format!("input '{id}' has neither wps:Data nor wps:Reference")));
        };
        inputs.push(Input { id, value });
    }
    let mut mode = Mode::Sync;
    let mut lineage = false;
    let mut response = ResponseForm::Document(vec![]);
    if let Some(form) = child(root, "ResponseForm") {
        if let Some(d) = child(form, "ResponseDocument") {
            let store = bool_attr(d, "storeExecuteResponse")?.unwrap_or(false);
            let status = bool_attr(d, "status")?.unwrap_or(false);
            if status && !store {
                return Err(WpsError::invalid("status", "status=\"true\" needs storeExecuteResponse=\"true\""));
            }
            if store {
                mode = Mode::Async;
            }
            lineage = bool_attr(d, "lineage")?.unwrap_or(false);
            let mut outs = Vec::new();
            for o in children(d, "Output") {
                let id = identifier(o)
                    .ok_or_else(|| WpsError::missing("Identifier", "a wps:Output has no ows:Identifier"))?;
                outs.push(OutputRequest {
                    id,
                    as_reference: bool_attr(o, "asReference")?.unwrap_or(false),
                    mime_type: o.attribute("mimeType").map(str::to_string),
                });
            }
            response = ResponseForm::Document(outs);
        } else if let Some(r) = child(form, "RawDataOutput") {
            let id = identifier(r)
                .ok_or_else(|| WpsError::missing("Identifier", "wps:RawDataOutput has no ows:Identifier"))?;
            response = ResponseForm::Raw(OutputRequest {
                id,
                as_reference: false,
                mime_type: r.attribute("mimeType").map(str::to_string),
            });
        }
    }
    Ok(Execute { process, inputs, mode, response, lineage })
}

/// The value inside a WPS 2.0 `wps:Data`: text (or CDATA), a `wps:LiteralValue`, or
/// markup.
fn data_v2(doc: &Document, data: Node) -> InputValue {
    if let Some(l) = child(data, "LiteralValue") {
        return InputValue::Literal(text(l));
    }
    match data.attribute("mimeType") {
        Some(m) if !m.starts_with("text/plain") => {
            InputValue::Complex { mime_type: Some(m.to_string()), content: content(doc, data) }
        }
        _ if data.children().any(|c| c.is_element()) => {
            InputValue::Complex { mime_type: None, content: content(doc, data) }
        }
        _ => InputValue::Literal(text(data)),
    }
}

fn execute_v2(doc: &Document, root: Node) -> Result<Execute, WpsError> {
    let process = identifier(root)
        .ok_or_else(|| WpsError::missing("Identifier", "Execute needs an ows:Identifier (the process)"))?;
    let mode = match root.attribute("mode").map(|m| m.trim().to_ascii_lowercase()).as_deref() {
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
    };
    let raw = match root.attribute("response").map(|r| r.trim().to_ascii_lowercase()).as_deref() {
        None | Some("document") => false,
        Some("raw") => true,
        Some(r) => return Err(WpsError::invalid("response", &format!("response must be document or raw, not '{r}'"))),
    };
    let mut inputs = Vec::new();
    for inp in children(root, "Input") {
        let id = inp
            .attribute("id")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| WpsError::missing("id", "a wps:Input has no id attribute"))?
            .to_string();
        let value = if let Some(data) = child(inp, "Data") {
            data_v2(doc, data)
        } else if let Some(r) = child(inp, "Reference") {
            InputValue::Reference(href(r))
        } else if child(inp, "Input").is_some() {
            return Err(WpsError::new(
                Code::NoSuchInput,
                Some(&id),
                &format!("input '{id}': nested inputs are not supported"),
            ));
        } else {
            return Err(WpsError::missing(&id, &format!("input '{id}' has neither wps:Data nor wps:Reference")));
        };
        inputs.push(Input { id, value });
    }
    let mut outputs = Vec::new();
    for o in children(root, "Output") {
        let id = o
            .attribute("id")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| WpsError::missing("id", "a wps:Output has no id attribute"))?;
        outputs.push(OutputRequest {
            id: id.to_string(),
            as_reference: o.attribute("transmission").is_none_or(|t| t.trim() == "reference"),
            mime_type: o.attribute("mimeType").map(str::to_string),
        });
    }
    let response = if raw {
        if outputs.len() > 1 {
            return Err(WpsError::invalid("response", "response=\"raw\" returns exactly one output"));
        }
        ResponseForm::Raw(outputs.pop().unwrap_or_else(|| OutputRequest::new("output")))
    } else {
        ResponseForm::Document(outputs)
    };
    let mode = if raw && mode == Mode::Async { Mode::Sync } else { mode };
    Ok(Execute { process, inputs, mode, response, lineage: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(id: &str, v: &str) -> Input {
        Input { id: id.into(), value: InputValue::Literal(v.into()) }
    }

    fn exec(body: &str) -> (Version, Execute) {
        let r = parse(body).expect("parses");
        match r.op {
            Operation::Execute(e) => (r.version, e),
            other => panic!("not an Execute: {other:?}"),
        }
    }

    const WF: &str = r#"{"doc": "a<b", "inputs": {"ds": ["c1"]}, "steps": {"s": {"run": "subset", "in": {"collection": "inputs/ds", "time": "2015/2016"}}}, "outputs": {"output": "s/output"}}"#;

    #[test]
    fn execute_v1_owslib_style() {
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<wps:Execute xmlns:wps="http://www.opengis.net/wps/1.0.0" xmlns:ows="http://www.opengis.net/ows/1.1"
  xmlns:xlink="http://www.w3.org/1999/xlink" service="WPS" version="1.0.0">
  <ows:Identifier>average</ows:Identifier>
  <wps:DataInputs>
    <wps:Input><ows:Identifier>collection</ows:Identifier><wps:Data><wps:LiteralData> c1 </wps:LiteralData></wps:Data></wps:Input>
    <wps:Input><ows:Identifier>dims</ows:Identifier><wps:Data><wps:LiteralData>latitude</wps:LiteralData></wps:Data></wps:Input>
    <wps:Input><ows:Identifier>dims</ows:Identifier><wps:Data><wps:LiteralData>longitude</wps:LiteralData></wps:Data></wps:Input>
    <wps:Input><ows:Identifier>workflow</ows:Identifier><wps:Data><wps:ComplexData mimeType="application/json">
      <![CDATA[{WF}]]>
    </wps:ComplexData></wps:Data></wps:Input>
    <wps:Input><ows:Identifier>shape</ows:Identifier><wps:Reference xlink:href="http://example.org/a.json"/></wps:Input>
  </wps:DataInputs>
  <wps:ResponseForm>
    <wps:ResponseDocument storeExecuteResponse="true" status="true" lineage="true">
      <wps:Output asReference="true"><ows:Identifier>output</ows:Identifier></wps:Output>
    </wps:ResponseDocument>
  </wps:ResponseForm>
</wps:Execute>"#
        );
        let (v, e) = exec(&body);
        assert_eq!(v, Version::V1);
        assert_eq!(e.process, "average");
        assert_eq!(&e.inputs[..3], &[lit("collection", "c1"), lit("dims", "latitude"), lit("dims", "longitude")]);
        assert_eq!(
            e.inputs[3].value,
            InputValue::Complex { mime_type: Some("application/json".into()), content: WF.into() }
        );
        assert_eq!(e.inputs[4].value, InputValue::Reference("http://example.org/a.json".into()));
        assert_eq!((e.mode, e.lineage), (Mode::Async, true));
        assert_eq!(
            e.response,
            ResponseForm::Document(vec![OutputRequest { id: "output".into(), as_reference: true, mime_type: None }])
        );
    }

    #[test]
    fn execute_v1_raw_and_sync() {
        let body = r#"<wps:Execute xmlns:wps="http://www.opengis.net/wps/1.0.0" xmlns:ows="http://www.opengis.net/ows/1.1" service="WPS" version="1.0.0">
  <ows:Identifier>subset</ows:Identifier>
  <wps:DataInputs><wps:Input><ows:Identifier>collection</ows:Identifier><wps:Data><wps:LiteralData>c&amp;1</wps:LiteralData></wps:Data></wps:Input></wps:DataInputs>
  <wps:ResponseForm><wps:RawDataOutput mimeType="application/metalink+xml; version=4.0"><ows:Identifier>output</ows:Identifier></wps:RawDataOutput></wps:ResponseForm>
</wps:Execute>"#;
        let (_, e) = exec(body);
        assert_eq!(e.inputs, vec![lit("collection", "c&1")]);
        assert_eq!(e.mode, Mode::Sync);
        assert!(matches!(e.response, ResponseForm::Raw(ref o) if o.id == "output"));
    }

    #[test]
    fn execute_v2_with_cdata_workflow() {
        let body = format!(
            r#"<wps:Execute xmlns:wps="http://www.opengis.net/wps/2.0" xmlns:ows="http://www.opengis.net/ows/2.0"
  xmlns:xlink="http://www.w3.org/1999/xlink" service="WPS" version="2.0.0" mode="async" response="document">
  <ows:Identifier>orchestrate</ows:Identifier>
  <wps:Input id="workflow"><wps:Data mimeType="application/json"><![CDATA[{WF}]]></wps:Data></wps:Input>
  <wps:Input id="time"><wps:Data><wps:LiteralValue>2015/2016</wps:LiteralValue></wps:Data></wps:Input>
  <wps:Input id="area"><wps:Data>0,49,10,65</wps:Data></wps:Input>
  <wps:Output id="output" transmission="reference"/>
  <wps:Output id="prov" transmission="value"/>
</wps:Execute>"#
        );
        let (v, e) = exec(&body);
        assert_eq!(v, Version::V2);
        assert_eq!(e.process, "orchestrate");
        assert_eq!(e.mode, Mode::Async);
        assert_eq!(
            e.inputs[0].value,
            InputValue::Complex { mime_type: Some("application/json".into()), content: WF.into() }
        );
        assert_eq!(&e.inputs[1..], &[lit("time", "2015/2016"), lit("area", "0,49,10,65")]);
        let ResponseForm::Document(outs) = e.response else { panic!("document") };
        assert_eq!(
            outs.iter().map(|o| (o.id.as_str(), o.as_reference)).collect::<Vec<_>>(),
            [("output", true), ("prov", false)]
        );
    }

    #[test]
    fn job_operations_and_capabilities() {
        let ns = r#"xmlns:wps="http://www.opengis.net/wps/2.0" service="WPS" version="2.0.0""#;
        for (op, want) in [
            ("GetStatus", Operation::GetStatus("j1".into())),
            ("GetResult", Operation::GetResult("j1".into())),
            ("Dismiss", Operation::Dismiss("j1".into())),
        ] {
            let r = parse(&format!("<wps:{op} {ns}><wps:JobID> j1 </wps:JobID></wps:{op}>")).expect("parses");
            assert_eq!(r, Request { version: Version::V2, op: want });
        }
        let r = parse(r#"<wps:GetCapabilities xmlns:wps="http://www.opengis.net/wps/1.0.0" xmlns:ows="http://www.opengis.net/ows/1.1" service="WPS"><wps:AcceptVersions><ows:Version>2.0.0</ows:Version></wps:AcceptVersions></wps:GetCapabilities>"#).expect("parses");
        assert_eq!(r, Request { version: Version::V2, op: Operation::GetCapabilities });
        let r = parse(r#"<wps:DescribeProcess xmlns:wps="http://www.opengis.net/wps/1.0.0" xmlns:ows="http://www.opengis.net/ows/1.1" service="WPS" version="1.0.0"><ows:Identifier>subset</ows:Identifier><ows:Identifier>average</ows:Identifier></wps:DescribeProcess>"#).expect("parses");
        assert_eq!(r.op, Operation::DescribeProcess(vec!["subset".into(), "average".into()]));
    }

    #[test]
    fn errors() {
        let ns1 =
            r#"xmlns:wps="http://www.opengis.net/wps/1.0.0" xmlns:ows="http://www.opengis.net/ows/1.1" service="WPS""#;
        let ns2 =
            r#"xmlns:wps="http://www.opengis.net/wps/2.0" xmlns:ows="http://www.opengis.net/ows/2.0" service="WPS""#;
        let cases = [
            ("<wps:Execute".to_string(), Code::NoApplicableCode, None),
            ("<Execute/>".to_string(), Code::OperationNotSupported, Some("request")),
            (format!("<wps:Execute {ns1} version=\"1.0.0\"/>"), Code::MissingParameterValue, Some("Identifier")),
            (format!("<wps:Execute {ns1} version=\"2.0.0\"/>"), Code::VersionNegotiationFailed, Some("version")),
            (format!("<wps:GetStatus {ns1} version=\"1.0.0\"/>"), Code::OperationNotSupported, Some("request")),
            (format!("<wps:GetStatus {ns2} version=\"2.0.0\"/>"), Code::MissingParameterValue, Some("JobID")),
            (format!("<wps:DescribeProcess {ns2} version=\"2.0.0\"/>"), Code::MissingParameterValue, Some("identifier")),
            (format!("<wps:Execute {ns2} version=\"2.0.0\" mode=\"soon\"><ows:Identifier>s</ows:Identifier></wps:Execute>"), Code::NoSuchMode, Some("mode")),
            (
                format!("<wps:Execute {ns1} version=\"1.0.0\"><ows:Identifier>s</ows:Identifier><wps:DataInputs><wps:Input><ows:Identifier>area</ows:Identifier><wps:Data><wps:BoundingBoxData/></wps:Data></wps:Input></wps:DataInputs></wps:Execute>"),
                Code::InvalidParameterValue,
                Some("area"),
            ),
            (
                format!("<wps:Execute {ns1} version=\"1.0.0\"><ows:Identifier>s</ows:Identifier><wps:ResponseForm><wps:ResponseDocument status=\"true\"/></wps:ResponseForm></wps:Execute>"),
                Code::InvalidParameterValue,
                Some("status"),
            ),
        ];
        for (body, code, locator) in cases {
            let e = parse(&body).expect_err(&body);
            assert_eq!((e.code, e.locator.as_deref()), (code, locator), "{body}");
        }
        let e = parse(&format!("<wps:GetStatus {ns2} version=\"2.0.0\"/>")).expect_err("no JobID");
        assert_eq!(e.version, Version::V2);
        assert!(e.to_xml().contains("http://www.opengis.net/ows/2.0"));
    }
}
