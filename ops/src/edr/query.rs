//! The query parameters of OGC API - EDR (`coords`, `within`, `bbox`, `corridor-width`,
//! `datetime`, `z`, `parameter-name`, `crs`, `f`), parsed into one typed [`Query`].

use super::geometry::{self, Point, Polygon, Shape};
use crate::process::params::{LevelParam, TimeParam};
use crate::{Error, Result};

/// The data queries a collection answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryType {
    Position,
    Radius,
    Area,
    Cube,
    Trajectory,
    Corridor,
    Locations,
}

impl QueryType {
    pub const ALL: [QueryType; 7] = [
        QueryType::Position,
        QueryType::Radius,
        QueryType::Area,
        QueryType::Cube,
        QueryType::Trajectory,
        QueryType::Corridor,
        QueryType::Locations,
    ];

    /// The path segment of the query.
    pub fn name(self) -> &'static str {
        match self {
            QueryType::Position => "position",
            QueryType::Radius => "radius",
            QueryType::Area => "area",
            QueryType::Cube => "cube",
            QueryType::Trajectory => "trajectory",
            QueryType::Corridor => "corridor",
            QueryType::Locations => "locations",
        }
    }

    pub fn parse(s: &str) -> Option<QueryType> {
        QueryType::ALL.into_iter().find(|q| q.name() == s)
    }
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    CoverageJson,
    GeoJson,
    Csv,
    NetCdf,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::CoverageJson, Format::GeoJson, Format::Csv, Format::NetCdf];

    /// The name given in `f` and in `output_formats`.
    pub fn name(self) -> &'static str {
        match self {
            Format::CoverageJson => "CoverageJSON",
            Format::GeoJson => "GeoJSON",
            Format::Csv => "CSV",
            Format::NetCdf => "NetCDF",
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Format::CoverageJson => "application/prs.coverage+json",
            Format::GeoJson => "application/geo+json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::NetCdf => "application/x-netcdf",
        }
    }

    /// `f=` by name or media type, any case.
    pub fn parse(s: &str) -> Result<Format> {
        let l = s.trim().to_ascii_lowercase();
        Ok(match l.as_str() {
            "coveragejson" | "covjson" | "application/prs.coverage+json" | "application/vnd.cov+json" | "json" => {
                Format::CoverageJson
            }
            "geojson" | "application/geo+json" => Format::GeoJson,
            "csv" | "text/csv" => Format::Csv,
            "netcdf" | "nc" | "netcdf4" | "application/x-netcdf" | "application/netcdf" => Format::NetCdf,
            _ => return Err(Error::bad(format!("f={s}: use CoverageJSON, GeoJSON, CSV or NetCDF"))),
        })
    }
}

/// Where a query looks.
#[derive(Clone, Debug, PartialEq)]
pub enum Place {
    /// `position` (and a point location): the cells nearest each point.
    Points(Vec<Point>),
    /// `radius`: the cells within `km` of any of the points.
    Radius { centers: Vec<Point>, km: f64 },
    /// `area` (and a polygon location): the cells whose centres are inside.
    Area(Vec<Polygon>),
    /// `cube`: the cells inside a longitude/latitude box.
    Cube { west: f64, south: f64, east: f64, north: f64 },
    /// `trajectory`: the cell nearest each vertex (at the vertex's time and level when
    /// the line has M and Z).
    Trajectory(Vec<Point>),
    /// `corridor`: the cells within `km` of the line.
    Corridor { line: Vec<Point>, km: f64 },
}

/// One EDR data query.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub place: Place,
    pub datetime: Option<TimeParam>,
    pub z: Option<LevelParam>,
    /// Parameters asked for (empty: every data variable of the collection).
    pub parameters: Vec<String>,
    pub format: Format,
}

/// Kilometres per unit of distance of `within-units` and `width-units`.
fn km_per(unit: &str) -> Result<f64> {
    Ok(match unit.trim().to_ascii_lowercase().as_str() {
        "km" | "kilometers" | "kilometres" => 1.0,
        "m" | "meters" | "metres" => 0.001,
        "mi" | "miles" => 1.609_344,
        "nmi" | "nm" | "nautical miles" => 1.852,
        "ft" | "feet" => 0.000_304_8,
        other => return Err(Error::bad(format!("distance unit '{other}': use km, m, mi, nmi or ft"))),
    })
}

fn distance(pairs: &[(String, String)], value: &str, unit: &str) -> Result<f64> {
    let raw = get(pairs, value).ok_or_else(|| Error::bad(format!("{value} is required")))?;
    let v: f64 = raw
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| Error::bad(format!("{value}={raw} is not a non-negative number")))?;
    let u = get(pairs, unit).ok_or_else(|| Error::bad(format!("{unit} is required with {value} (e.g. km)")))?;
    Ok(v * km_per(u)?)
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().rev().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
}

/// Parse `datetime`: an instant, `start/end` with `..` for an open end, or a
/// comma-separated list of instants.
pub fn datetime(s: &str) -> Result<Option<TimeParam>> {
    let s = s.trim();
    let open = |x: &str| if x.trim() == ".." { String::new() } else { x.to_string() };
    let norm = match s.split_once('/') {
        Some((a, b)) => format!("{}/{}", open(a), open(b)),
        None => s.to_string(),
    };
    TimeParam::parse(&norm).map_err(|e| Error::bad(format!("datetime={s}: {e}")))
}

/// Parse `z`: a level, `lo/hi`, a list, or `Rn/start/step` (n levels from start).
pub fn z(s: &str) -> Result<Option<LevelParam>> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix(['R', 'r']) {
        let parts: Vec<&str> = rest.split('/').collect();
        let bad = || Error::bad(format!("z={s}: the repeating form is Rn/start/step"));
        let [n, start, step] = parts[..] else { return Err(bad()) };
        let n: usize = n.trim().parse().map_err(|_| bad())?;
        let (start, step): (f64, f64) =
            (start.trim().parse().map_err(|_| bad())?, step.trim().parse().map_err(|_| bad())?);
        if n == 0 || n > 10_000 || !start.is_finite() || !step.is_finite() {
            return Err(bad());
        }
        #[allow(clippy::cast_precision_loss)]
        return Ok(Some(LevelParam::Values((0..n).map(|k| start + step * k as f64).collect())));
    }
    LevelParam::parse(s).map_err(|e| Error::bad(format!("z={s}: {e}")))
}

/// The only CRS served: CRS84 longitude/latitude (EPSG:4326 is accepted with the same
/// longitude-first axis order of WKT, as EDR clients send it).
pub fn check_crs(crs: Option<&str>) -> Result<()> {
    match crs.map(|c| c.trim().to_ascii_lowercase()) {
        None => Ok(()),
        Some(c)
            if c.is_empty()
                || c == "crs84"
                || c.ends_with("/ogc/1.3/crs84")
                || c.ends_with("/ogc/0/crs84")
                || c == "epsg:4326"
                || c.ends_with("/epsg/0/4326") =>
        {
            Ok(())
        }
        Some(_) => Err(Error::bad(format!(
            "crs={}: this server answers in CRS84 (http://www.opengis.net/def/crs/OGC/1.3/CRS84) only",
            crs.unwrap_or_default()
        ))),
    }
}

impl Query {
    /// Parse the query parameters (`pairs`, names case-insensitive) of a query of type
    /// `kind`; the place of a named location is passed in `place`.
    pub fn parse(kind: QueryType, pairs: &[(String, String)], place: Option<Shape>) -> Result<Query> {
        check_crs(get(pairs, "crs"))?;
        let format = get(pairs, "f").map_or(Ok(Format::CoverageJson), Format::parse)?;
        let datetime = get(pairs, "datetime").map_or(Ok(None), datetime)?;
        let z = get(pairs, "z").map_or(Ok(None), z)?;
        let parameters: Vec<String> = get(pairs, "parameter-name")
            .or_else(|| get(pairs, "parameter_name"))
            .map(|p| p.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        let mut place = place;
        let mut coords = || match place.take() {
            Some(shape) => Ok(shape),
            None => get(pairs, "coords")
                .ok_or_else(|| Error::bad(format!("coords is required by the {} query (WKT)", kind.name())))
                .and_then(geometry::parse),
        };
        let points = |shape: Shape, what: &str| match shape {
            Shape::Points(p) => Ok(p),
            _ => Err(Error::bad(format!("coords of a {what} query must be a POINT or MULTIPOINT"))),
        };
        let line = |shape: Shape, what: &str| match shape {
            Shape::Lines(l) if l.len() == 1 && l[0].len() >= 2 => Ok(l.into_iter().next().unwrap_or_default()),
            Shape::Lines(l) if l.len() > 1 => Ok(l.into_iter().flatten().collect()),
            _ => Err(Error::bad(format!("coords of a {what} query must be a LINESTRING of at least 2 points"))),
        };
        let place = match kind {
            QueryType::Position => Place::Points(points(coords()?, "position")?),
            QueryType::Radius => {
                Place::Radius { centers: points(coords()?, "radius")?, km: distance(pairs, "within", "within-units")? }
            }
            QueryType::Area => match coords()? {
                Shape::Polygons(p) => Place::Area(p),
                _ => return Err(Error::bad("coords of an area query must be a POLYGON or MULTIPOLYGON")),
            },
            QueryType::Cube => {
                let raw = get(pairs, "bbox").ok_or_else(|| Error::bad("bbox is required by the cube query"))?;
                let n: Vec<f64> = raw
                    .split(',')
                    .map(|x| x.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
                    .collect::<Option<_>>()
                    .ok_or_else(|| Error::bad(format!("bbox={raw} is not numbers")))?;
                let (w, s, e, nn) = match n[..] {
                    [w, s, e, n] => (w, s, e, n),
                    [w, s, _, e, n, _] => (w, s, e, n),
                    _ => return Err(Error::bad(format!("bbox={raw} must have 4 numbers: west,south,east,north"))),
                };
                if s > nn || !(-90.0..=90.0).contains(&s) || !(-90.0..=90.0).contains(&nn) {
                    return Err(Error::bad(format!("bbox={raw}: latitudes must lie in -90..90, south first")));
                }
                // west > east crosses the antimeridian
                let e = if e < w { e + 360.0 } else { e };
                if e - w > 360.0 {
                    return Err(Error::bad(format!("bbox={raw} spans more than 360 degrees of longitude")));
                }
                Place::Cube { west: w, south: s, east: e, north: nn }
            }
            QueryType::Trajectory => Place::Trajectory(line(coords()?, "trajectory")?),
            QueryType::Corridor => Place::Corridor {
                line: line(coords()?, "corridor")?,
                km: distance(pairs, "corridor-width", "width-units")? / 2.0,
            },
            QueryType::Locations => match coords()? {
                Shape::Points(p) => Place::Points(p),
                Shape::Polygons(p) => Place::Area(p),
                Shape::Lines(l) => Place::Trajectory(l.into_iter().flatten().collect()),
            },
        };
        Ok(Query { place, datetime, z, parameters, format })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        q.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parses_queries() {
        let q = Query::parse(QueryType::Position, &pairs("coords=POINT(2 48)&datetime=2015-01-01/..&f=CSV"), None)
            .expect("position");
        assert_eq!(q.format, Format::Csv);
        assert!(matches!(q.datetime, Some(TimeParam::Range { start: Some(_), end: None })));
        let q = Query::parse(QueryType::Radius, &pairs("coords=POINT(2 48)&within=5&within-units=mi"), None)
            .expect("radius");
        assert!(matches!(q.place, Place::Radius { km, .. } if (km - 8.04672).abs() < 1e-9));
        let q = Query::parse(QueryType::Cube, &pairs("bbox=170,-10,-170,10&z=R3/1000/-100"), None).expect("cube");
        assert_eq!(q.place, Place::Cube { west: 170.0, south: -10.0, east: 190.0, north: 10.0 });
        assert_eq!(q.z, Some(LevelParam::Values(vec![1000.0, 900.0, 800.0])));
        for (kind, bad) in [
            (QueryType::Position, "coords=LINESTRING(0 0,1 1)"),
            (QueryType::Position, ""),
            (QueryType::Radius, "coords=POINT(0 0)&within=5"),
            (QueryType::Radius, "coords=POINT(0 0)&within=-5&within-units=km"),
            (QueryType::Cube, "bbox=0,0,1"),
            (QueryType::Cube, "bbox=0,10,1,5"),
            (QueryType::Position, "coords=POINT(0 0)&datetime=yesterday"),
            (QueryType::Position, "coords=POINT(0 0)&crs=EPSG:3857"),
            (QueryType::Position, "coords=POINT(0 0)&f=xml"),
            (QueryType::Position, "coords=POINT(0 0)&z=R0/1/1"),
            (QueryType::Area, "coords=POINT(0 0)"),
        ] {
            assert!(Query::parse(kind, &pairs(bad), None).is_err(), "{bad}");
        }
    }
}
