//! WPS 2.0.0 documents: `wps:Capabilities` with `wps:Contents`, `wps:ProcessOfferings`
//! (rendered from `cirrus_capabilities`), `wps:StatusInfo` and `wps:Result` (from a
//! job's state).

use super::execute::output_url;
use super::{NS_OWS2, NS_WPS2, NS_XLINK};
use crate::jobs::{Job, Status};
use cirrus_capabilities::{InputType, Output, Process};
use cirrus_ops::encode::text::xml_escape;
use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What every process offers.
const JOB_CONTROL: &str = "sync-execute async-execute dismiss";
const TRANSMISSION: &str = "reference";
/// Seconds between two GetStatus a client is advised to wait.
const POLL_SECS: u64 = 2;

fn namespaces() -> String {
    format!("xmlns:wps=\"{NS_WPS2}\" xmlns:ows=\"{NS_OWS2}\" xmlns:xlink=\"{NS_XLINK}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"")
}

fn iso_ms(ms: i64) -> String {
    crate::http::iso8601(UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

/// `ows:Title`, `ows:Abstract`, `ows:Keywords`, `ows:Identifier` (the OWS 2.0 order).
fn described(x: &mut String, indent: &str, id: &str, title: &str, abstract_: &str, keywords: &[String]) {
    let _ = writeln!(x, "{indent}<ows:Title>{}</ows:Title>", xml_escape(title));
    if !abstract_.is_empty() {
        let _ = writeln!(x, "{indent}<ows:Abstract>{}</ows:Abstract>", xml_escape(abstract_));
    }
    if !keywords.is_empty() {
        let _ = writeln!(x, "{indent}<ows:Keywords>");
        for k in keywords {
            let _ = writeln!(x, "{indent}  <ows:Keyword>{}</ows:Keyword>", xml_escape(k));
        }
        let _ = writeln!(x, "{indent}</ows:Keywords>");
    }
    let _ = writeln!(x, "{indent}<ows:Identifier>{}</ows:Identifier>", xml_escape(id));
}

/// `wps:Capabilities` (GetCapabilities, version 2.0.0).
pub fn capabilities(base: &str, provider: &str) -> String {
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<wps:Capabilities {} xsi:schemaLocation=\"{NS_WPS2} http://schemas.opengis.net/wps/2.0/wpsGetCapabilities.xsd\" service=\"WPS\" version=\"2.0.0\">\n",
        namespaces()
    );
    let _ = write!(
        x,
        "  <ows:ServiceIdentification>\n    <ows:Title>cirrus</ows:Title>\n    <ows:Abstract>Climate data processing near the data (subset, average, workflows) on CMIP6, CMIP5 and CORDEX datasets; results as Metalink v4 documents with W3C PROV provenance.</ows:Abstract>\n    <ows:ServiceType>WPS</ows:ServiceType>\n    <ows:ServiceTypeVersion>1.0.0</ows:ServiceTypeVersion>\n    <ows:ServiceTypeVersion>2.0.0</ows:ServiceTypeVersion>\n    <ows:Fees>NONE</ows:Fees>\n    <ows:AccessConstraints>NONE</ows:AccessConstraints>\n  </ows:ServiceIdentification>\n  <ows:ServiceProvider>\n    <ows:ProviderName>{}</ows:ProviderName>\n    <ows:ProviderSite xlink:href=\"{}\"/>\n    <ows:ServiceContact/>\n  </ows:ServiceProvider>\n  <ows:OperationsMetadata>\n",
        xml_escape(provider),
        xml_escape(base)
    );
    let url = xml_escape(&format!("{base}/wps"));
    for op in ["GetCapabilities", "DescribeProcess", "Execute", "GetStatus", "GetResult", "Dismiss"] {
        let _ = write!(
            x,
            "    <ows:Operation name=\"{op}\">\n      <ows:DCP>\n        <ows:HTTP>\n          <ows:Get xlink:href=\"{url}?\"/>\n          <ows:Post xlink:href=\"{url}\"/>\n        </ows:HTTP>\n      </ows:DCP>\n    </ows:Operation>\n"
        );
    }
    x.push_str("  </ows:OperationsMetadata>\n  <wps:Contents>\n");
    for p in cirrus_capabilities::processes() {
        let _ = writeln!(
            x,
            "    <wps:ProcessSummary jobControlOptions=\"{JOB_CONTROL}\" outputTransmission=\"{TRANSMISSION}\" processVersion=\"{}\">",
            xml_escape(&p.version)
        );
        described(&mut x, "      ", &p.id, &p.title, &p.description, &p.keywords);
        x.push_str("    </wps:ProcessSummary>\n");
    }
    x.push_str("  </wps:Contents>\n</wps:Capabilities>\n");
    x
}

/// `ns:ComplexData` with one format.
fn complex(x: &mut String, indent: &str, mime: &str) {
    let _ = write!(
        x,
        "{indent}<ns:ComplexData xmlns:ns=\"{NS_WPS2}\">\n{indent}  <ns:Format mimeType=\"{}\" default=\"true\"/>\n{indent}</ns:ComplexData>\n",
        xml_escape(mime)
    );
}

/// One `wps:ProcessOffering`.
fn offering(x: &mut String, p: &Process) {
    let _ = write!(
        x,
        "  <wps:ProcessOffering jobControlOptions=\"{JOB_CONTROL}\" outputTransmission=\"{TRANSMISSION}\" processVersion=\"{}\" processModel=\"native\">\n    <wps:Process>\n",
        xml_escape(&p.version)
    );
    described(x, "      ", &p.id, &p.title, &p.description, &p.keywords);
    for i in &p.inputs {
        let _ = writeln!(x, "      <wps:Input minOccurs=\"{}\" maxOccurs=\"{}\">", i.min, i.max.max(1));
        described(x, "        ", &i.id, &i.title, &i.description, &[]);
        if i.kind == InputType::Json {
            complex(x, "        ", "application/json");
        } else {
            let (name, url) = super::v1::data_type(i.kind);
            let _ = write!(
                x,
                "        <ns:LiteralData xmlns:ns=\"{NS_WPS2}\">\n          <ns:Format mimeType=\"text/plain\" default=\"true\"/>\n          <LiteralDataDomain default=\"true\">\n"
            );
            super::v1::allowed_values(x, "            ", i.allowed.as_deref());
            let _ = writeln!(x, "            <ows:DataType ows:reference=\"{url}\">{name}</ows:DataType>");
            if let Some(d) = &i.default {
                let _ = writeln!(x, "            <ows:DefaultValue>{}</ows:DefaultValue>", xml_escape(d));
            }
            x.push_str("          </LiteralDataDomain>\n        </ns:LiteralData>\n");
        }
        x.push_str("      </wps:Input>\n");
    }
    for o in &p.outputs {
        x.push_str("      <wps:Output>\n");
        described(x, "        ", &o.id, &o.title, &o.description, &[]);
        complex(x, "        ", &o.mime_type);
        x.push_str("      </wps:Output>\n");
    }
    x.push_str("    </wps:Process>\n  </wps:ProcessOffering>\n");
}

/// `wps:ProcessOfferings` (DescribeProcess, version 2.0.0).
pub fn describe(processes: &[&Process]) -> String {
    let mut x = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<wps:ProcessOfferings {}>\n", namespaces());
    for p in processes {
        offering(&mut x, p);
    }
    x.push_str("</wps:ProcessOfferings>\n");
    x
}

/// When a finished job's results are removed.
fn expiration(job: &Job, ttl_secs: u64) -> Option<String> {
    let ttl = i64::try_from(ttl_secs).unwrap_or(i64::MAX / 2000).saturating_mul(1000);
    job.finished.map(|f| iso_ms(f.saturating_add(ttl)))
}

/// The WPS 2.0 status name of a job.
pub fn status_name(s: Status) -> &'static str {
    match s {
        Status::Accepted => "Accepted",
        Status::Running => "Running",
        Status::Successful => "Succeeded",
        Status::Failed => "Failed",
        Status::Dismissed => "Dismissed",
    }
}

/// `wps:StatusInfo` (asynchronous Execute, GetStatus, Dismiss).
pub fn status_info(job: &Job, ttl_secs: u64) -> String {
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<wps:StatusInfo {}>\n  <wps:JobID>{}</wps:JobID>\n  <wps:Status>{}</wps:Status>\n",
        namespaces(),
        xml_escape(&job.id),
        status_name(job.status)
    );
    if job.status.is_final() {
        if let Some(e) = expiration(job, ttl_secs).filter(|_| job.status != Status::Dismissed) {
            let _ = writeln!(x, "  <wps:ExpirationDate>{e}</wps:ExpirationDate>");
        }
    } else {
        let next = crate::http::iso8601(SystemTime::now() + Duration::from_secs(POLL_SECS));
        let _ = writeln!(x, "  <wps:NextPoll>{next}</wps:NextPoll>");
    }
    let percent = match job.status {
        Status::Successful => Some(100),
        Status::Accepted => Some(0),
        Status::Running => Some(job.progress.min(99)),
        Status::Failed | Status::Dismissed => None,
    };
    if let Some(p) = percent {
        let _ = writeln!(x, "  <wps:PercentCompleted>{p}</wps:PercentCompleted>");
    }
    x.push_str("</wps:StatusInfo>\n");
    x
}

/// `wps:Result` of a successful job (synchronous Execute, GetResult): its outputs as
/// references.
pub fn result(base: &str, job: &Job, outputs: &[&Output], ttl_secs: u64) -> String {
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<wps:Result {}>\n  <wps:JobID>{}</wps:JobID>\n",
        namespaces(),
        xml_escape(&job.id)
    );
    if let Some(e) = expiration(job, ttl_secs) {
        let _ = writeln!(x, "  <wps:ExpirationDate>{e}</wps:ExpirationDate>");
    }
    for o in outputs {
        let _ = writeln!(
            x,
            "  <wps:Output id=\"{}\">\n    <wps:Reference xlink:href=\"{}\" mimeType=\"{}\"/>\n  </wps:Output>",
            xml_escape(&o.id),
            xml_escape(&output_url(base, &job.id, &o.id)),
            xml_escape(&o.mime_type)
        );
    }
    x.push_str("</wps:Result>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use roxmltree::Document;
    use serde_json::json;

    #[test]
    fn capabilities_contents() {
        let doc = capabilities("http://h", "cirrus");
        let d = Document::parse(&doc).expect("well-formed");
        let sums: Vec<_> = d.descendants().filter(|n| n.has_tag_name((NS_WPS2, "ProcessSummary"))).collect();
        assert_eq!(sums.len(), cirrus_capabilities::processes().len());
        assert_eq!(sums[0].attribute("jobControlOptions"), Some(JOB_CONTROL));
        assert_eq!(sums[0].attribute("outputTransmission"), Some("reference"));
    }

    #[test]
    fn offerings() {
        let doc = describe(&[
            cirrus_capabilities::process("orchestrate").expect("orchestrate"),
            cirrus_capabilities::process("subset").expect("subset"),
        ]);
        let d = Document::parse(&doc).expect("well-formed");
        assert_eq!(d.descendants().filter(|n| n.has_tag_name((NS_WPS2, "ProcessOffering"))).count(), 2);
        assert_eq!(d.descendants().filter(|n| n.has_tag_name((NS_WPS2, "LiteralData"))).count(), 10);
        let formats: Vec<_> = d
            .descendants()
            .filter(|n| n.has_tag_name((NS_WPS2, "Format")))
            .filter_map(|n| n.attribute("mimeType"))
            .collect();
        assert!(formats.contains(&"application/json") && formats.contains(&"application/metalink+xml; version=4.0"));
        assert!(d.descendants().any(|n| n.has_tag_name("LiteralDataDomain")));
    }

    #[test]
    fn status_and_result() {
        let mut job = Job::new("subset", json!({}), None, None);
        let d = status_info(&job, 60);
        let doc = Document::parse(&d).expect("well-formed");
        let text = |name: &str| {
            doc.descendants().find(|n| n.has_tag_name((NS_WPS2, name))).and_then(|n| n.text()).map(str::to_string)
        };
        assert_eq!(text("Status").as_deref(), Some("Accepted"));
        assert!(text("NextPoll").is_some());
        job.status = Status::Successful;
        job.finished = Some(0);
        let p = cirrus_capabilities::process("subset").expect("subset");
        let r = result("http://h", &job, &p.outputs.iter().collect::<Vec<_>>(), 60);
        let doc = Document::parse(&r).expect("well-formed");
        let hrefs: Vec<_> =
            doc.descendants().filter_map(|n| n.attribute((NS_XLINK, "href"))).map(str::to_string).collect();
        assert_eq!(hrefs[0], format!("http://h/results/{}/output.meta4", job.id));
        assert!(r.contains("<wps:ExpirationDate>1970-01-01T00:01:00Z</wps:ExpirationDate>"));
    }
}
