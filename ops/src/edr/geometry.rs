//! The places of EDR queries: WKT `coords` (parsed by the `wkt` crate) turned into
//! points, polygons and lines in longitude/latitude degrees, with the spherical
//! distances and the point-in-polygon test the queries need.

use crate::{Error, Result};
use std::str::FromStr;
use wkt::types::Coord;
use wkt::Wkt;

/// Mean Earth radius (km), as used by haversine distances.
pub const EARTH_KM: f64 = 6371.0088;

/// A point: longitude, latitude, and the optional `Z` (level) and `M` (time, seconds
/// since 1970-01-01) of WKT.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub lon: f64,
    pub lat: f64,
    pub z: Option<f64>,
    pub m: Option<f64>,
}

/// A polygon: its outer ring first, then holes, each as (lon, lat) vertices.
#[derive(Clone, Debug, PartialEq)]
pub struct Polygon {
    pub rings: Vec<Vec<(f64, f64)>>,
}

/// A parsed WKT geometry, reduced to what EDR queries use.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    Points(Vec<Point>),
    Lines(Vec<Vec<Point>>),
    Polygons(Vec<Polygon>),
}

fn point(c: &Coord<f64>) -> Result<Point> {
    let ok = |v: f64| v.is_finite();
    if !ok(c.x) || !ok(c.y) || c.z.is_some_and(|z| !ok(z)) || c.m.is_some_and(|m| !ok(m)) {
        return Err(Error::bad("coords: coordinates must be finite numbers"));
    }
    if !(-90.0..=90.0).contains(&c.y) {
        return Err(Error::bad(format!("coords: latitude {} is outside -90..90 (WKT gives longitude first)", c.y)));
    }
    if c.x.abs() > 720.0 {
        return Err(Error::bad(format!("coords: longitude {} is outside -720..720", c.x)));
    }
    Ok(Point { lon: c.x, lat: c.y, z: c.z, m: c.m })
}

fn polygon(p: &wkt::types::Polygon<f64>) -> Result<Polygon> {
    let rings = p
        .rings()
        .iter()
        .map(|r| r.coords().iter().map(|c| point(c).map(|p| (p.lon, p.lat))).collect::<Result<Vec<_>>>())
        .collect::<Result<Vec<_>>>()?;
    match rings.first() {
        Some(outer) if outer.len() >= 3 => Ok(Polygon { rings }),
        _ => Err(Error::bad("coords: a polygon needs an outer ring of at least 3 points")),
    }
}

/// Parse WKT `coords` (POINT, MULTIPOINT, LINESTRING, MULTILINESTRING, POLYGON,
/// MULTIPOLYGON, with Z, M or ZM) in CRS84 longitude/latitude.
pub fn parse(s: &str) -> Result<Shape> {
    let s = s.trim();
    if s.is_empty() {
        return Err(Error::bad("coords is empty: give a WKT geometry, e.g. POINT(2.35 48.85)"));
    }
    let w = Wkt::<f64>::from_str(s).map_err(|e| Error::bad(format!("coords '{}' is not WKT: {e}", short(s))))?;
    let empty = || Error::bad(format!("coords '{}' is an empty geometry", short(s)));
    let shape = match &w {
        Wkt::Point(p) => Shape::Points(vec![point(p.coord().ok_or_else(empty)?)?]),
        Wkt::MultiPoint(mp) => {
            Shape::Points(mp.points().iter().map(|p| point(p.coord().ok_or_else(empty)?)).collect::<Result<Vec<_>>>()?)
        }
        Wkt::LineString(l) => Shape::Lines(vec![l.coords().iter().map(point).collect::<Result<Vec<_>>>()?]),
        Wkt::MultiLineString(ml) => Shape::Lines(
            ml.line_strings()
                .iter()
                .map(|l| l.coords().iter().map(point).collect::<Result<Vec<_>>>())
                .collect::<Result<Vec<_>>>()?,
        ),
        Wkt::Polygon(p) => Shape::Polygons(vec![polygon(p)?]),
        Wkt::MultiPolygon(mp) => Shape::Polygons(mp.polygons().iter().map(polygon).collect::<Result<Vec<_>>>()?),
        Wkt::GeometryCollection(_) => {
            return Err(Error::bad("coords: GEOMETRYCOLLECTION is not supported; send one geometry type"))
        }
    };
    let is_empty = match &shape {
        Shape::Points(p) => p.is_empty(),
        Shape::Lines(l) => l.is_empty() || l.iter().any(Vec::is_empty),
        Shape::Polygons(p) => p.is_empty(),
    };
    if is_empty {
        return Err(empty());
    }
    Ok(shape)
}

/// A GeoJSON geometry (Point, MultiPoint, LineString, MultiLineString, Polygon,
/// MultiPolygon) as a [`Shape`], checked as WKT `coords` are.
pub fn from_geojson(g: &serde_json::Value) -> Result<Shape> {
    let bad = || Error::bad(format!("not a GeoJSON geometry of points, lines or polygons: {}", short(&g.to_string())));
    let pos = |p: &serde_json::Value| -> Result<Point> {
        let a = p.as_array().ok_or_else(bad)?;
        let n = |k: usize| a.get(k).and_then(serde_json::Value::as_f64);
        point(&Coord { x: n(0).ok_or_else(bad)?, y: n(1).ok_or_else(bad)?, z: n(2), m: None })
    };
    let list =
        |l: &serde_json::Value| -> Result<Vec<Point>> { l.as_array().ok_or_else(bad)?.iter().map(pos).collect() };
    let ring = |l: &serde_json::Value| -> Result<Vec<(f64, f64)>> {
        Ok(list(l)?.into_iter().map(|p| (p.lon, p.lat)).collect())
    };
    let polygon = |r: &serde_json::Value| -> Result<Polygon> {
        let rings = r.as_array().ok_or_else(bad)?.iter().map(ring).collect::<Result<Vec<_>>>()?;
        match rings.first() {
            Some(outer) if outer.len() >= 3 => Ok(Polygon { rings }),
            _ => Err(Error::bad("a polygon needs an outer ring of at least 3 points")),
        }
    };
    let c = &g["coordinates"];
    Ok(match g["type"].as_str().ok_or_else(bad)? {
        "Point" => Shape::Points(vec![pos(c)?]),
        "MultiPoint" => Shape::Points(list(c)?),
        "LineString" => Shape::Lines(vec![list(c)?]),
        "MultiLineString" => Shape::Lines(c.as_array().ok_or_else(bad)?.iter().map(list).collect::<Result<_>>()?),
        "Polygon" => Shape::Polygons(vec![polygon(c)?]),
        "MultiPolygon" => Shape::Polygons(c.as_array().ok_or_else(bad)?.iter().map(polygon).collect::<Result<_>>()?),
        _ => return Err(bad()),
    })
}

fn short(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("{}...", s.chars().take(80).collect::<String>())
    } else {
        s.to_string()
    }
}

fn unit(lon: f64, lat: f64) -> [f64; 3] {
    let (l, p) = (lon.to_radians(), lat.to_radians());
    [p.cos() * l.cos(), p.cos() * l.sin(), p.sin()]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

/// Great-circle distance (km) between two longitude/latitude points (haversine).
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (p1, p2) = (a.1.to_radians(), b.1.to_radians());
    let dp = p2 - p1;
    let dl = (b.0 - a.0).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_KM * h.sqrt().min(1.0).asin()
}

/// Great-circle distance (km) from a point to a polyline.
pub fn distance_to_line_km(p: (f64, f64), line: &[(f64, f64)]) -> f64 {
    let mut best = line.iter().map(|&v| distance_km(p, v)).fold(f64::INFINITY, f64::min);
    let q = unit(p.0, p.1);
    for w in line.windows(2) {
        let (a, b) = (unit(w[0].0, w[0].1), unit(w[1].0, w[1].1));
        let n = cross(a, b);
        let len = dot(n, n).sqrt();
        if len < 1e-12 {
            continue;
        }
        let n = [n[0] / len, n[1] / len, n[2] / len];
        // the foot of the perpendicular lies on the arc when it is between a and b
        let s = dot(q, n);
        let foot = [q[0] - s * n[0], q[1] - s * n[1], q[2] - s * n[2]];
        if dot(cross(a, foot), n) >= 0.0 && dot(cross(foot, b), n) >= 0.0 {
            best = best.min(EARTH_KM * s.abs().min(1.0).asin());
        }
    }
    best
}

/// Longitude `x` moved by a multiple of 360 to lie nearest `reference`.
pub fn lon_near(x: f64, reference: f64) -> f64 {
    reference + (x - reference + 180.0).rem_euclid(360.0) - 180.0
}

impl Polygon {
    /// The (west, south, east, north) box of the outer ring.
    pub fn bbox(&self) -> (f64, f64, f64, f64) {
        let outer = &self.rings[0];
        outer.iter().fold((f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY), |b, &(x, y)| {
            (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y))
        })
    }

    /// True when (lon, lat) is inside the outer ring and outside every hole (even-odd
    /// rule in longitude/latitude; `lon` is taken in the polygon's own longitude frame).
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        let (w, _, e, _) = self.bbox();
        let x = lon_near(lon, (w + e) / 2.0);
        let inside = |ring: &[(f64, f64)]| {
            let mut c = false;
            let n = ring.len();
            for i in 0..n {
                let (xi, yi) = ring[i];
                let (xj, yj) = ring[(i + n - 1) % n];
                if (yi > lat) != (yj > lat) && x < (xj - xi) * (lat - yi) / (yj - yi) + xi {
                    c = !c;
                }
            }
            c
        };
        inside(&self.rings[0]) && !self.rings[1..].iter().any(|h| inside(h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_wkt_of_edr_queries() {
        assert_eq!(
            parse("POINT(2.35 48.85)").expect("point"),
            Shape::Points(vec![Point { lon: 2.35, lat: 48.85, z: None, m: None }])
        );
        let Shape::Points(p) = parse("MULTIPOINT((0 1),(2 3))").expect("multipoint") else { panic!() };
        assert_eq!(p.len(), 2);
        let Shape::Lines(l) = parse("LINESTRINGZM(0 0 850 1e9, 1 1 500 1.1e9)").expect("line") else { panic!() };
        assert_eq!(l[0][1].z, Some(500.0));
        assert_eq!(l[0][1].m, Some(1.1e9));
        let Shape::Polygons(pg) = parse("POLYGON((0 0,10 0,10 10,0 10,0 0),(4 4,6 4,6 6,4 6,4 4))").expect("polygon")
        else {
            panic!()
        };
        assert!(pg[0].contains(2.0, 2.0));
        assert!(!pg[0].contains(5.0, 5.0), "inside the hole");
        assert!(!pg[0].contains(12.0, 5.0));
        assert!(pg[0].contains(362.0, 2.0), "other longitude frame");
        for bad in ["", "POINT(", "POINT(1)", "POINT(0 95)", "CIRCLE(1 2)", "POINT EMPTY", "POLYGON((0 0,1 1))"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn geojson_places() {
        let g = serde_json::json!({"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 0]]]});
        let Shape::Polygons(p) = from_geojson(&g).expect("polygon") else { panic!() };
        assert!(p[0].contains(8.0, 2.0));
        let g = serde_json::json!({"type": "Point", "coordinates": [2.35, 48.85]});
        assert_eq!(from_geojson(&g).expect("point"), parse("POINT(2.35 48.85)").expect("wkt"));
        for bad in [
            serde_json::json!({"type": "Point", "coordinates": [2.35, 98.0]}),
            serde_json::json!({"type": "Circle", "coordinates": [0, 0]}),
            serde_json::json!({"type": "Point"}),
            serde_json::json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}),
        ] {
            assert!(from_geojson(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn distances_on_the_sphere() {
        // Paris - London: about 344 km
        let d = distance_km((2.3522, 48.8566), (-0.1276, 51.5072));
        assert!((d - 343.5).abs() < 2.0, "{d}");
        // a point 1 degree north of the equator segment 0..10: 111 km
        let d = distance_to_line_km((5.0, 1.0), &[(0.0, 0.0), (10.0, 0.0)]);
        assert!((d - 111.2).abs() < 0.5, "{d}");
        // beyond the end: distance to the end point
        let d = distance_to_line_km((12.0, 0.0), &[(0.0, 0.0), (10.0, 0.0)]);
        assert!((d - 222.4).abs() < 0.5, "{d}");
    }
}
