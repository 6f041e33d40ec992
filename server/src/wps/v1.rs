//! WPS 1.0.0 documents: `wps:Capabilities`, `wps:ProcessDescriptions` (rendered from
//! `cirrus_capabilities`) and `wps:ExecuteResponse` (from a job's state), in the shapes
//! rook/pywps produce and OWSLib reads.

use super::execute::output_url;
use super::{Input, InputValue, OutputRequest, NS_OWS11, NS_WPS1, NS_XLINK};
use crate::jobs::{Job, Status};
use cirrus_capabilities::{InputType, Output, Process};
use cirrus_ops::encode::text::xml_escape;
use std::fmt::Write;

/// The namespace declarations of every document.
fn namespaces() -> String {
    format!(
        "xmlns:wps=\"{NS_WPS1}\" xmlns:ows=\"{NS_OWS11}\" xmlns:xlink=\"{NS_XLINK}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""
    )
}

/// The OWS domain of a literal input at `indent`: its allowed values, or any value.
pub fn allowed_values(x: &mut String, indent: &str, allowed: Option<&[String]>) {
    match allowed {
        Some(values) => {
            let _ = writeln!(x, "{indent}<ows:AllowedValues>");
            for v in values {
                let _ = writeln!(x, "{indent}  <ows:Value>{}</ows:Value>", xml_escape(v));
            }
            let _ = writeln!(x, "{indent}</ows:AllowedValues>");
        }
        None => {
            let _ = writeln!(x, "{indent}<ows:AnyValue/>");
        }
    }
}

/// The XML Schema type URL of an input type.
pub fn data_type(kind: InputType) -> (&'static str, &'static str) {
    match kind {
        InputType::Boolean => ("boolean", "http://www.w3.org/TR/xmlschema-2/#boolean"),
        InputType::Integer => ("integer", "http://www.w3.org/TR/xmlschema-2/#integer"),
        InputType::Number => ("double", "http://www.w3.org/TR/xmlschema-2/#double"),
        InputType::String | InputType::Json => ("string", "http://www.w3.org/TR/xmlschema-2/#string"),
    }
}

/// `ows:Identifier`, `ows:Title`, `ows:Abstract`.
fn described(out: &mut String, indent: &str, id: &str, title: &str, abstract_: &str) {
    let _ = write!(
        out,
        "{indent}<ows:Identifier>{}</ows:Identifier>\n{indent}<ows:Title>{}</ows:Title>\n",
        xml_escape(id),
        xml_escape(title)
    );
    if !abstract_.is_empty() {
        let _ = writeln!(out, "{indent}<ows:Abstract>{}</ows:Abstract>", xml_escape(abstract_));
    }
}

/// The `ows:OperationsMetadata` of the capabilities (KVP GET and XML POST for each).
fn operations(base: &str) -> String {
    let mut out = String::from("  <ows:OperationsMetadata>\n");
    for op in ["GetCapabilities", "DescribeProcess", "Execute"] {
        let _ = write!(
            out,
            "    <ows:Operation name=\"{op}\">\n      <ows:DCP>\n        <ows:HTTP>\n          <ows:Get xlink:href=\"{u}?\"/>\n          <ows:Post xlink:href=\"{u}\"/>\n        </ows:HTTP>\n      </ows:DCP>\n    </ows:Operation>\n",
            u = xml_escape(&format!("{base}/wps"))
        );
    }
    out.push_str("  </ows:OperationsMetadata>\n");
    out
}

/// `wps:Capabilities` (GetCapabilities).
pub fn capabilities(base: &str, provider: &str) -> String {
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<wps:Capabilities {} xsi:schemaLocation=\"{NS_WPS1} http://schemas.opengis.net/wps/1.0.0/wpsGetCapabilities_response.xsd\" service=\"WPS\" version=\"1.0.0\" xml:lang=\"en-US\">\n",
        namespaces()
    );
    let _ = write!(
        x,
        "  <ows:ServiceIdentification>\n    <ows:Title>cirrus</ows:Title>\n    <ows:Abstract>Climate data processing near the data (subset, average, workflows) on CMIP6, CMIP5 and CORDEX datasets; results as Metalink v4 documents with W3C PROV provenance.</ows:Abstract>\n    <ows:Keywords>\n      <ows:Keyword>WPS</ows:Keyword>\n      <ows:Keyword>climate</ows:Keyword>\n      <ows:Keyword>rook</ows:Keyword>\n    </ows:Keywords>\n    <ows:ServiceType>WPS</ows:ServiceType>\n    <ows:ServiceTypeVersion>1.0.0</ows:ServiceTypeVersion>\n    <ows:ServiceTypeVersion>2.0.0</ows:ServiceTypeVersion>\n    <ows:Fees>NONE</ows:Fees>\n    <ows:AccessConstraints>NONE</ows:AccessConstraints>\n  </ows:ServiceIdentification>\n  <ows:ServiceProvider>\n    <ows:ProviderName>{}</ows:ProviderName>\n    <ows:ProviderSite xlink:href=\"{}\"/>\n    <ows:ServiceContact/>\n  </ows:ServiceProvider>\n",
        xml_escape(provider),
        xml_escape(base)
    );
    x.push_str(&operations(base));
    x.push_str("  <wps:ProcessOfferings>\n");
    for p in cirrus_capabilities::processes() {
        let _ = writeln!(x, "    <wps:Process wps:processVersion=\"{}\">", xml_escape(&p.version));
        described(&mut x, "      ", &p.id, &p.title, &p.description);
        x.push_str("    </wps:Process>\n");
    }
    x.push_str("  </wps:ProcessOfferings>\n  <wps:Languages>\n    <wps:Default>\n      <ows:Language>en-US</ows:Language>\n    </wps:Default>\n    <wps:Supported>\n      <ows:Language>en-US</ows:Language>\n    </wps:Supported>\n  </wps:Languages>\n</wps:Capabilities>\n");
    x
}

/// A complex format list (`Default` and `Supported` with one mime type).
fn formats(indent: &str, mime: &str) -> String {
    let m = xml_escape(mime);
    format!(
        "{indent}<Default>\n{indent}  <Format>\n{indent}    <MimeType>{m}</MimeType>\n{indent}  </Format>\n{indent}</Default>\n{indent}<Supported>\n{indent}  <Format>\n{indent}    <MimeType>{m}</MimeType>\n{indent}  </Format>\n{indent}</Supported>\n"
    )
}

/// One `ProcessDescription`.
fn description(x: &mut String, p: &Process) {
    let _ = writeln!(
        x,
        "  <ProcessDescription wps:processVersion=\"{}\" storeSupported=\"true\" statusSupported=\"true\">",
        xml_escape(&p.version)
    );
    described(x, "    ", &p.id, &p.title, &p.description);
    x.push_str("    <DataInputs>\n");
    for i in &p.inputs {
        let _ = writeln!(x, "      <Input minOccurs=\"{}\" maxOccurs=\"{}\">", i.min, i.max.max(1));
        described(x, "        ", &i.id, &i.title, &i.description);
        if i.kind == InputType::Json {
            x.push_str("        <ComplexData>\n");
            x.push_str(&formats("          ", "application/json"));
            x.push_str("        </ComplexData>\n");
        } else {
            let (name, url) = data_type(i.kind);
            let _ = writeln!(
                x,
                "        <LiteralData>\n          <ows:DataType ows:reference=\"{url}\">{name}</ows:DataType>"
            );
            allowed_values(x, "          ", i.allowed.as_deref());
            if let Some(d) = &i.default {
                let _ = writeln!(x, "          <DefaultValue>{}</DefaultValue>", xml_escape(d));
            }
            x.push_str("        </LiteralData>\n");
        }
        x.push_str("      </Input>\n");
    }
    x.push_str("    </DataInputs>\n    <ProcessOutputs>\n");
    for o in &p.outputs {
        x.push_str("      <Output>\n");
        described(x, "        ", &o.id, &o.title, &o.description);
        x.push_str("        <ComplexOutput>\n");
        x.push_str(&formats("          ", &o.mime_type));
        x.push_str("        </ComplexOutput>\n      </Output>\n");
    }
    x.push_str("    </ProcessOutputs>\n  </ProcessDescription>\n");
}

/// `wps:ProcessDescriptions` (DescribeProcess).
pub fn describe(processes: &[&Process]) -> String {
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<wps:ProcessDescriptions {} xsi:schemaLocation=\"{NS_WPS1} http://schemas.opengis.net/wps/1.0.0/wpsDescribeProcess_response.xsd\" service=\"WPS\" version=\"1.0.0\" xml:lang=\"en-US\">\n",
        namespaces()
    );
    for p in processes {
        description(&mut x, p);
    }
    x.push_str("</wps:ProcessDescriptions>\n");
    x
}

/// What a `wps:ExecuteResponse` shows besides the job.
pub struct ExecuteDoc<'a> {
    /// The server's base URL.
    pub base: &'a str,
    pub process: &'a Process,
    /// Where the client follows an asynchronous job (stored responses only).
    pub status_location: Option<String>,
    /// The outputs listed once the job succeeded.
    pub outputs: Vec<&'a Output>,
    /// `lineage=true`: the inputs and output definitions of the request.
    pub lineage: Option<(&'a [Input], &'a [OutputRequest])>,
}

/// The `wps:Status` content of a job.
fn status(x: &mut String, p: &Process, job: &Job) {
    let created = crate::http::iso8601(std::time::SystemTime::now());
    let _ = writeln!(x, "  <wps:Status creationTime=\"{created}\">");
    let failed = |x: &mut String, text: &str| {
        let _ = write!(
            x,
            "    <wps:ProcessFailed>\n      <ows:ExceptionReport version=\"1.0.0\">\n        <ows:Exception exceptionCode=\"NoApplicableCode\">\n          <ows:ExceptionText>{}</ows:ExceptionText>\n        </ows:Exception>\n      </ows:ExceptionReport>\n    </wps:ProcessFailed>\n",
            xml_escape(text)
        );
    };
    match job.status {
        Status::Accepted => {
            let _ =
                writeln!(x, "    <wps:ProcessAccepted>Process {} accepted</wps:ProcessAccepted>", xml_escape(&p.title));
        }
        Status::Running => {
            let _ = writeln!(
                x,
                "    <wps:ProcessStarted percentCompleted=\"{}\">{}</wps:ProcessStarted>",
                job.progress.min(99),
                xml_escape(if job.message.is_empty() { "running" } else { &job.message })
            );
        }
        Status::Successful => {
            let _ = writeln!(
                x,
                "    <wps:ProcessSucceeded>Process {} finished</wps:ProcessSucceeded>",
                xml_escape(&p.title)
            );
        }
        Status::Failed => failed(x, job.error.as_deref().unwrap_or("the process failed")),
        Status::Dismissed => failed(x, "the job was dismissed"),
    }
    x.push_str("  </wps:Status>\n");
}

/// The lineage: the request's inputs and output definitions.
fn lineage(x: &mut String, p: &Process, inputs: &[Input], outputs: &[OutputRequest]) {
    x.push_str("  <wps:DataInputs>\n");
    for i in inputs {
        let title = p.input(&i.id).map_or(i.id.as_str(), |d| d.title.as_str());
        let _ = write!(
            x,
            "    <wps:Input>\n      <ows:Identifier>{}</ows:Identifier>\n      <ows:Title>{}</ows:Title>\n",
            xml_escape(&i.id),
            xml_escape(title)
        );
        match &i.value {
            InputValue::Literal(v) => {
                let _ = writeln!(
                    x,
                    "      <wps:Data>\n        <wps:LiteralData>{}</wps:LiteralData>\n      </wps:Data>",
                    xml_escape(v)
                );
            }
            InputValue::Complex { mime_type, content } => {
                let _ = writeln!(
                    x,
                    "      <wps:Data>\n        <wps:ComplexData mimeType=\"{}\">{}</wps:ComplexData>\n      </wps:Data>",
                    xml_escape(mime_type.as_deref().unwrap_or("application/json")),
                    xml_escape(content)
                );
            }
            InputValue::Reference(url) => {
                let _ = writeln!(x, "      <wps:Reference xlink:href=\"{}\"/>", xml_escape(url));
            }
        }
        x.push_str("    </wps:Input>\n");
    }
    x.push_str("  </wps:DataInputs>\n  <wps:OutputDefinitions>\n");
    let all: Vec<OutputRequest>;
    let outputs = if outputs.is_empty() {
        all = p.outputs.iter().map(|o| OutputRequest::new(&o.id)).collect();
        &all
    } else {
        outputs
    };
    for o in outputs {
        let mime = p.outputs.iter().find(|d| d.id == o.id).map_or("", |d| d.mime_type.as_str());
        let _ = writeln!(
            x,
            "    <wps:Output asReference=\"true\" mimeType=\"{}\">\n      <ows:Identifier>{}</ows:Identifier>\n    </wps:Output>",
            xml_escape(mime),
            xml_escape(&o.id)
        );
    }
    x.push_str("  </wps:OutputDefinitions>\n");
}

/// `wps:ExecuteResponse` for a job in its current state.
pub fn execute_response(d: &ExecuteDoc, job: &Job) -> String {
    let p = d.process;
    let instance = format!("{}/wps?service=WPS&request=GetCapabilities&version=1.0.0", d.base);
    let location =
        d.status_location.as_ref().map(|l| format!(" statusLocation=\"{}\"", xml_escape(l))).unwrap_or_default();
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<wps:ExecuteResponse {} xsi:schemaLocation=\"{NS_WPS1} http://schemas.opengis.net/wps/1.0.0/wpsExecute_response.xsd\" service=\"WPS\" version=\"1.0.0\" xml:lang=\"en-US\" serviceInstance=\"{}\"{location}>\n",
        namespaces(),
        xml_escape(&instance)
    );
    let _ = writeln!(x, "  <wps:Process wps:processVersion=\"{}\">", xml_escape(&p.version));
    described(&mut x, "    ", &p.id, &p.title, &p.description);
    x.push_str("  </wps:Process>\n");
    status(&mut x, p, job);
    if let Some((inputs, outputs)) = d.lineage {
        lineage(&mut x, p, inputs, outputs);
    }
    if job.status == Status::Successful {
        x.push_str("  <wps:ProcessOutputs>\n");
        for o in &d.outputs {
            x.push_str("    <wps:Output>\n");
            described(&mut x, "      ", &o.id, &o.title, &o.description);
            let _ = writeln!(
                x,
                "      <wps:Reference href=\"{}\" mimeType=\"{}\"/>\n    </wps:Output>",
                xml_escape(&output_url(d.base, &job.id, &o.id)),
                xml_escape(&o.mime_type)
            );
        }
        x.push_str("  </wps:ProcessOutputs>\n");
    }
    x.push_str("</wps:ExecuteResponse>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use roxmltree::Document;
    use serde_json::json;

    fn find<'a, 'i>(d: &'a Document<'i>, ns: &str, name: &str) -> Vec<roxmltree::Node<'a, 'i>> {
        d.descendants().filter(|n| n.has_tag_name((ns, name))).collect()
    }

    #[test]
    fn capabilities_list_every_process() {
        let doc = capabilities("http://h:1", "ACME & co");
        let d = Document::parse(&doc).expect("well-formed");
        let ids: Vec<&str> = find(&d, NS_WPS1, "Process")
            .iter()
            .filter_map(|p| p.children().find(|c| c.has_tag_name((NS_OWS11, "Identifier"))).and_then(|c| c.text()))
            .collect();
        let want: Vec<&str> = cirrus_capabilities::processes().iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, want);
        assert!(doc.contains("ACME &amp; co"));
    }

    #[test]
    fn descriptions_from_capabilities() {
        let ps: Vec<&Process> = cirrus_capabilities::processes().iter().collect();
        let doc = describe(&ps);
        let d = Document::parse(&doc).expect("well-formed");
        let descs: Vec<_> = d.descendants().filter(|n| n.has_tag_name("ProcessDescription")).collect();
        assert_eq!(descs.len(), ps.len());
        let avg = descs
            .iter()
            .find(|n| n.children().any(|c| c.has_tag_name((NS_OWS11, "Identifier")) && c.text() == Some("average")))
            .expect("average");
        let dims = avg
            .descendants()
            .find(|n| n.has_tag_name("Input") && n.children().any(|c| c.text() == Some("dims")))
            .expect("dims");
        assert_eq!((dims.attribute("minOccurs"), dims.attribute("maxOccurs")), (Some("1"), Some("5")));
        let values: Vec<_> =
            dims.descendants().filter(|n| n.has_tag_name((NS_OWS11, "Value"))).filter_map(|n| n.text()).collect();
        assert_eq!(values, ["time", "level", "latitude", "longitude", "realization"]);
        assert!(doc.contains("<ComplexData>") && doc.contains("<MimeType>application/json</MimeType>"));
        assert!(doc.contains("<MimeType>application/metalink+xml; version=4.0</MimeType>"));
        assert!(doc.contains("ows:reference=\"http://www.w3.org/TR/xmlschema-2/#boolean\">boolean</ows:DataType>"));
    }

    #[test]
    fn execute_responses_per_state() {
        let p = cirrus_capabilities::process("subset").expect("subset");
        let mut job = Job::new("subset", json!({"collection": "c"}), None, None);
        let inputs = [Input { id: "collection".into(), value: InputValue::Literal("c<&>".into()) }];
        let doc = ExecuteDoc {
            base: "http://h",
            process: p,
            status_location: Some("http://h/wps/status/j.xml".into()),
            outputs: p.outputs.iter().collect(),
            lineage: Some((&inputs, &[])),
        };
        let accepted = execute_response(&doc, &job);
        let d = Document::parse(&accepted).expect("well-formed");
        assert_eq!(find(&d, NS_WPS1, "ProcessAccepted").len(), 1);
        assert_eq!(d.root_element().attribute("statusLocation"), Some("http://h/wps/status/j.xml"));
        assert!(find(&d, NS_WPS1, "ProcessOutputs").is_empty());
        assert_eq!(find(&d, NS_WPS1, "LiteralData")[0].text(), Some("c<&>"));
        job.status = Status::Running;
        job.progress = 42;
        let started = execute_response(&doc, &job);
        let d = Document::parse(&started).expect("well-formed");
        assert_eq!(find(&d, NS_WPS1, "ProcessStarted")[0].attribute("percentCompleted"), Some("42"));
        job.status = Status::Successful;
        let done = execute_response(&doc, &job);
        let d = Document::parse(&done).expect("well-formed");
        let refs: Vec<_> =
            find(&d, NS_WPS1, "Reference").iter().filter_map(|r| r.attribute("href")).map(str::to_string).collect();
        assert_eq!(
            refs,
            [
                format!("http://h/results/{}/output.meta4", job.id),
                format!("http://h/results/{}/provenance.json", job.id)
            ]
        );
        job.status = Status::Failed;
        job.error = Some("no data <here>".into());
        let failed = execute_response(&doc, &job);
        let d = Document::parse(&failed).expect("well-formed");
        let ex = find(&d, NS_OWS11, "Exception");
        assert_eq!(ex[0].attribute("exceptionCode"), Some("NoApplicableCode"));
        assert_eq!(find(&d, NS_OWS11, "ExceptionText")[0].text(), Some("no data <here>"));
    }
}
