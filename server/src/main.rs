fn main() {
    let _ = gdal::version_info("RELEASE_NAME");
    let _ = proj::Proj::new("EPSG:4326");
}
