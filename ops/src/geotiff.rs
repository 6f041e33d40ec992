//! GeoTIFF and Cloud-Optimized GeoTIFF files, through GDAL's `GTiff` and `COG`
//! drivers: one band per 2-D slice (time step, level), the CRS and geotransform set,
//! the fill value as nodata, band descriptions and metadata (time, units, variable),
//! deflate compression with the floating-point predictor, overviews for COG. Bands are
//! produced one at a time, so memory holds one slice.

#![allow(unsafe_code)]

use crate::model::DataType;
use crate::{Error, Result};
use gdal::raster::{Buffer, RasterCreationOptions};
use gdal::spatial_ref::SpatialRef;
use gdal::{DriverManager, GeoTransform, Metadata};
use std::ffi::{c_char, c_int, c_void, CString};
use std::path::Path;

/// One band's description and metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BandInfo {
    pub description: String,
    pub metadata: Vec<(String, String)>,
}

/// What to write.
#[derive(Clone, Debug, PartialEq)]
pub struct GeoTiff {
    pub width: usize,
    pub height: usize,
    /// GDAL geotransform of the rows as the band closure returns them.
    pub geotransform: [f64; 6],
    /// The CRS: `EPSG:xxxx`, a PROJ string or WKT.
    pub crs: String,
    /// `F32` or `F64`.
    pub dtype: DataType,
    pub nodata: f64,
    /// Units of the values (GDAL's band unit type).
    pub unit: String,
    /// Dataset metadata.
    pub metadata: Vec<(String, String)>,
    pub bands: Vec<BandInfo>,
    /// Write a Cloud-Optimized GeoTIFF (with overviews).
    pub cog: bool,
}

extern "C" {
    fn GDALSetRasterUnitType(band: *mut c_void, unit: *const c_char) -> c_int;
}

fn gdal_err(path: &Path) -> impl Fn(gdal::errors::GdalError) -> Error + '_ {
    move |e| Error::write_failed(path, "GDAL", e)
}

fn options(items: &[(&str, String)]) -> Result<RasterCreationOptions> {
    let mut o = RasterCreationOptions::new();
    for (k, v) in items {
        o.add_name_value(k, v).map_err(|e| Error::Internal(format!("GDAL option {k}: {e}")))?;
    }
    Ok(o)
}

/// The WKT of a CRS definition (EPSG code, PROJ string, WKT), checked by GDAL.
pub fn crs_wkt(definition: &str) -> Result<String> {
    let srs = SpatialRef::from_definition(definition)
        .map_err(|e| Error::bad(format!("'{definition}' is not a CRS GDAL understands: {e}")))?;
    srs.to_wkt().map_err(|e| Error::bad(format!("'{definition}' cannot be written as WKT: {e}")))
}

impl GeoTiff {
    /// Size of the values in bytes.
    pub fn bytes(&self) -> u64 {
        (self.width as u64) * (self.height as u64) * (self.bands.len() as u64) * (self.dtype.size() as u64)
    }

    /// Write to `path`, asking `band(i)` for the values of band `i` (row-major, `height`
    /// rows of `width`; NaN or the nodata value where missing).
    pub fn write(&self, path: &Path, mut band: impl FnMut(usize) -> Result<Vec<f64>>) -> Result<()> {
        if self.bands.is_empty() || self.width == 0 || self.height == 0 {
            return Err(Error::bad("nothing to write: the selection is empty"));
        }
        if self.bands.len() > 65_535 {
            return Err(Error::bad(format!(
                "{} bands are more than a GeoTIFF holds (65535); select fewer time steps",
                self.bands.len()
            )));
        }
        let err = gdal_err(path);
        let gtiff = DriverManager::get_driver_by_name("GTiff").map_err(&err)?;
        let tmp = path.with_extension("tmp.tif");
        let first = if self.cog { tmp.as_path() } else { path };
        let base = [
            ("TILED", "YES".to_string()),
            ("BLOCKXSIZE", "256".to_string()),
            ("BLOCKYSIZE", "256".to_string()),
            ("BIGTIFF", "IF_SAFER".to_string()),
            ("INTERLEAVE", "BAND".to_string()),
        ];
        let mut opts: Vec<(&str, String)> = base.to_vec();
        if self.cog {
            opts.push(("COMPRESS", "NONE".to_string()));
        } else {
            opts.extend([
                ("COMPRESS", "DEFLATE".to_string()),
                ("PREDICTOR", "3".to_string()),
                ("NUM_THREADS", "ALL_CPUS".to_string()),
            ]);
        }
        let opts = options(&opts)?;
        let (w, h, n) = (self.width, self.height, self.bands.len());
        let mut ds = match self.dtype {
            DataType::F64 => gtiff.create_with_band_type_with_options::<f64, _>(first, w, h, n, &opts),
            _ => gtiff.create_with_band_type_with_options::<f32, _>(first, w, h, n, &opts),
        }
        .map_err(&err)?;
        ds.set_geo_transform(&GeoTransform::from(self.geotransform)).map_err(&err)?;
        let srs = SpatialRef::from_definition(&self.crs)
            .map_err(|e| Error::bad(format!("'{}' is not a CRS GDAL understands: {e}", self.crs)))?;
        ds.set_spatial_ref(&srs).map_err(&err)?;
        for (k, v) in &self.metadata {
            ds.set_metadata_item(k, v, "").map_err(&err)?;
        }
        let unit = CString::new(self.unit.replace('\0', "")).unwrap_or_default();
        for (i, info) in self.bands.iter().enumerate() {
            let vals = band(i)?;
            if vals.len() != w * h {
                return Err(Error::Internal(format!("band {i} has {} values, not {}", vals.len(), w * h)));
            }
            let mut b = ds.rasterband(i + 1).map_err(&err)?;
            b.set_no_data_value(Some(self.nodata)).map_err(&err)?;
            b.set_description(&info.description).map_err(&err)?;
            for (k, v) in &info.metadata {
                b.set_metadata_item(k, v, "").map_err(&err)?;
            }
            if !self.unit.is_empty() {
                // SAFETY: the band handle is valid while `ds` lives; GDAL copies the string.
                unsafe {
                    GDALSetRasterUnitType(b.c_rasterband().cast::<c_void>(), unit.as_ptr());
                }
            }
            let nodata = self.nodata;
            match self.dtype {
                DataType::F64 => {
                    let data: Vec<f64> = vals.into_iter().map(|x| if x.is_nan() { nodata } else { x }).collect();
                    b.write((0, 0), (w, h), &mut Buffer::new((w, h), data)).map_err(&err)?;
                }
                _ => {
                    #[allow(clippy::cast_possible_truncation)]
                    let data: Vec<f32> =
                        vals.into_iter().map(|x| if x.is_nan() { nodata as f32 } else { x as f32 }).collect();
                    b.write((0, 0), (w, h), &mut Buffer::new((w, h), data)).map_err(&err)?;
                }
            }
        }
        if self.cog {
            let cog = DriverManager::get_driver_by_name("COG").map_err(&err)?;
            let copts = options(&[
                ("COMPRESS", "DEFLATE".to_string()),
                ("PREDICTOR", "YES".to_string()),
                ("NUM_THREADS", "ALL_CPUS".to_string()),
                ("OVERVIEWS", "IGNORE_EXISTING".to_string()),
                ("RESAMPLING", "AVERAGE".to_string()),
                ("BIGTIFF", "IF_SAFER".to_string()),
                ("BLOCKSIZE", "256".to_string()),
            ])?;
            let out = ds.create_copy(&cog, path, &copts).map_err(&err);
            drop(ds);
            let _ = std::fs::remove_file(&tmp);
            let _ = std::fs::remove_file(tmp.with_extension("tif.aux.xml"));
            out?.close().map_err(&err)?;
        } else {
            ds.close().map_err(&err)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geotiff_and_cog_metadata() {
        let dir = tempfile::tempdir().expect("tmp");
        for cog in [false, true] {
            let p = dir.path().join(if cog { "c.tif" } else { "g.tif" });
            let spec = GeoTiff {
                width: 40,
                height: 20,
                geotransform: [-20.0, 1.0, 0.0, 60.0, 0.0, -1.0],
                crs: "EPSG:4326".into(),
                dtype: DataType::F32,
                nodata: 1e20,
                unit: "K".into(),
                metadata: vec![("variable".into(), "tas".into())],
                bands: (0..3)
                    .map(|i| BandInfo {
                        description: format!("tas 2020-0{}-16", i + 1),
                        metadata: vec![("time".into(), format!("2020-0{}-16T00:00:00", i + 1))],
                    })
                    .collect(),
                cog,
            };
            spec.write(&p, |i| {
                Ok((0..800).map(|k| if k == 5 { f64::NAN } else { f64::from(i as u32 * 1000 + k) }).collect())
            })
            .expect("write");
            let ds = gdal::Dataset::open(&p).expect("open");
            assert_eq!(ds.raster_count(), 3);
            assert_eq!(ds.raster_size(), (40, 20));
            assert_eq!(ds.geo_transform().expect("gt"), [-20.0, 1.0, 0.0, 60.0, 0.0, -1.0]);
            assert_eq!(ds.spatial_ref().expect("srs").auth_code().expect("epsg"), 4326);
            assert_eq!(ds.metadata_item("variable", "").as_deref(), Some("tas"));
            let b = ds.rasterband(2).expect("band");
            assert_eq!(b.no_data_value().map(|x| x as f32), Some(1e20f32));
            assert_eq!(b.unit(), "K");
            assert_eq!(b.description().expect("desc"), "tas 2020-02-16");
            assert_eq!(b.metadata_item("time", "").as_deref(), Some("2020-02-16T00:00:00"));
            let v = b.read_band_as::<f32>().expect("read");
            assert_eq!(v.data()[7], 1007.0);
            assert_eq!(v.data()[5], 1e20f32);
            if cog {
                assert_eq!(ds.metadata_item("LAYOUT", "IMAGE_STRUCTURE").as_deref(), Some("COG"));
                assert_eq!(ds.metadata_item("COMPRESSION", "IMAGE_STRUCTURE").as_deref(), Some("DEFLATE"));
            }
        }
    }
}
