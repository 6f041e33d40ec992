//! WMS key-value parameters: names case-insensitive, values percent-decoded.

use super::error::WmsError;
use std::collections::HashMap;

/// The parameters of a request, by upper-case name.
#[derive(Clone, Debug, Default)]
pub struct Params(HashMap<String, String>);

fn decode(s: &str) -> String {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus).decode_utf8_lossy().into_owned()
}

impl Params {
    /// Parse a query string (`a=b&c=d`); the first of repeated names wins.
    pub fn parse(query: &str) -> Params {
        let mut m = HashMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            m.entry(decode(k).trim().to_ascii_uppercase()).or_insert_with(|| decode(v));
        }
        Params(m)
    }

    /// A parameter's value, None when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    /// True when the parameter is given (even empty).
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// A required parameter.
    pub fn require(&self, name: &str) -> Result<&str, WmsError> {
        self.get(name)
            .ok_or_else(|| WmsError::new(Some("MissingParameterValue"), format!("the parameter {name} is required")))
    }

    /// A number (a '+' sent unencoded arrives as a space and is put back).
    pub fn number(name: &str, s: &str) -> Result<f64, WmsError> {
        s.trim()
            .replace(' ', "+")
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| WmsError::new(Some("InvalidParameterValue"), format!("{name}={s} is not a number")))
    }

    /// An optional positive integer.
    pub fn size(&self, name: &str) -> Result<Option<usize>, WmsError> {
        self.get(name)
            .map(|s| {
                s.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| {
                    WmsError::new(Some("InvalidParameterValue"), format!("{name}={s} is not a positive integer"))
                })
            })
            .transpose()
    }

    /// An optional boolean (TRUE/FALSE, case-insensitive; also 1/0, yes/no).
    pub fn flag(&self, name: &str) -> Result<Option<bool>, WmsError> {
        self.get(name)
            .map(|s| match s.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(WmsError::new(Some("InvalidParameterValue"), format!("{name}={s} is not TRUE or FALSE"))),
            })
            .transpose()
    }

    /// Comma-separated numbers.
    pub fn numbers(name: &str, s: &str) -> Result<Vec<f64>, WmsError> {
        s.split(',').map(|p| Params::number(name, p)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitive_and_decodes() {
        let p = Params::parse("service=WMS&Request=GetMap&LAYERS=a%2Fb.c%2Fvar&bbox=-1e%2B06,0,1e+06,5&EMPTY=&x");
        assert_eq!(p.get("REQUEST"), Some("GetMap"));
        assert_eq!(p.get("LAYERS"), Some("a/b.c/var"));
        assert_eq!(
            Params::numbers("BBOX", p.get("BBOX").unwrap_or_default()).expect("numbers"),
            vec![-1e6, 0.0, 1e6, 5.0]
        );
        assert_eq!(p.get("EMPTY"), None);
        assert!(p.has("EMPTY") && p.has("X"));
        assert!(p.require("WIDTH").is_err());
        assert_eq!(p.flag("SERVICE").ok(), None);
    }
}
