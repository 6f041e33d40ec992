//! `all_types.nc`: a NetCDF-4 file with a variable of every atomic type, a packed
//! variable, NaN fill values, a scalar, a name with a space, and attributes of every
//! type including text that needs escaping.

use std::path::Path;

use anyhow::Result;
use netcdf::types::NcTypeDescriptor;
use netcdf::FileMut;

use crate::metadata::history;
use crate::netcdf_ext::{attr, char_rows, put_global_attributes, put_var_attributes, Attr};

/// Length of the `x` dimension (shared by the 1-D variables).
const NX: usize = 6;
/// Length of the `y` dimension.
const NY: usize = 4;
/// Characters per row of `char_var`.
const STRLEN: usize = 8;

/// Packed missing value of `packed_temp`.
const PACKED_FILL: i16 = -32768;

/// Writes the file at `path`.
pub(super) fn write(path: &Path) -> Result<()> {
    let mut file = netcdf::create(path)?;
    file.add_dimension("x", NX)?;
    file.add_dimension("y", NY)?;
    file.add_dimension("strlen", STRLEN)?;
    put_global_attributes(&mut file, &global_attributes())?;
    write_coordinates(&mut file)?;
    write_integers(&mut file)?;
    write_floats(&mut file)?;
    write_text(&mut file)?;
    write_special(&mut file)?;
    file.close()?;
    Ok(())
}

/// Defines a variable, puts its attributes and all its values.
fn put_var<T: NcTypeDescriptor>(
    file: &mut FileMut,
    name: &str,
    dims: &[&str],
    values: &[T],
    attrs: &[Attr],
) -> Result<()> {
    let mut var = file.add_variable::<T>(name, dims)?;
    put_var_attributes(&mut var, attrs)?;
    var.put_values(values, ..)?;
    Ok(())
}

fn long_name(text: &str) -> Vec<Attr> {
    vec![attr("long_name", text)]
}

fn write_coordinates(file: &mut FileMut) -> Result<()> {
    let coordinate = |axis: &str, name: &str| vec![attr("long_name", name), attr("units", "km"), attr("axis", axis)];
    let x: Vec<f64> = (0..NX).map(|i| 10.0 * i as f64).collect();
    let y: Vec<f64> = (0..NY).map(|j| 2.5 * j as f64).collect();
    put_var(file, "x", &["x"], &x, &coordinate("X", "distance east"))?;
    put_var(file, "y", &["y"], &y, &coordinate("Y", "distance north"))
}

/// Integer variables with extreme values, avoiding each type's default fill value.
fn write_integers(file: &mut FileMut) -> Result<()> {
    let x = &["x"];
    put_var::<i8>(file, "byte_var", x, &[-128, -42, -1, 0, 1, 127], &long_name("NC_BYTE"))?;
    put_var::<u8>(file, "ubyte_var", x, &[0, 1, 127, 128, 200, 254], &long_name("NC_UBYTE"))?;
    put_var::<i16>(file, "short_var", x, &[-32768, -1234, -1, 0, 1, 32767], &long_name("NC_SHORT"))?;
    put_var::<u16>(file, "ushort_var", x, &[0, 1, 255, 32768, 60000, 65534], &long_name("NC_USHORT"))?;
    put_var::<i32>(file, "int_var", x, &[i32::MIN, -123_456, -1, 0, 1, i32::MAX], &long_name("NC_INT"))?;
    put_var::<u32>(
        file,
        "uint_var",
        x,
        &[0, 1, 65_536, 2_147_483_648, 4_000_000_000, 4_294_967_294],
        &long_name("NC_UINT"),
    )?;
    put_var::<i64>(
        file,
        "int64_var",
        x,
        &[i64::MIN, -9_007_199_254_740_993, -1, 0, 5_000_000_000, i64::MAX],
        &long_name("NC_INT64"),
    )?;
    put_var::<u64>(
        file,
        "uint64_var",
        x,
        &[0, 1, 4_294_967_296, 9_007_199_254_740_993, 10_000_000_000_000_000_000, 18_446_744_073_709_551_613],
        &long_name("NC_UINT64"),
    )
}

fn write_floats(file: &mut FileMut) -> Result<()> {
    let x = &["x"];
    put_var::<f32>(file, "float_var", x, &[-273.15, -1.5, 0.0, 1.0e-7, 3.140_625, 3.0e38], &long_name("NC_FLOAT"))?;
    put_var::<f64>(
        file,
        "double_var",
        x,
        &[-1.0e300, -1.5, 0.0, 1.0e-300, std::f64::consts::PI, 1.0e300],
        &long_name("NC_DOUBLE"),
    )?;
    put_var::<f32>(
        file,
        "surface pressure",
        x,
        &[101_325.0, 100_000.0, 98_765.4, 85_000.0, 70_000.0, 50_000.0],
        &[
            attr("long_name", "surface pressure (a name with a space)"),
            attr("standard_name", "surface_air_pressure"),
            attr("units", "Pa"),
        ],
    )?;
    put_var::<f32>(
        file,
        "nan_fill_var",
        x,
        &[1.0, f32::NAN, 3.0, 4.0, f32::NAN, 6.0],
        &[attr("long_name", "float with NaN as _FillValue"), attr("_FillValue", f32::NAN), attr("units", "1")],
    )
}

fn write_text(file: &mut FileMut) -> Result<()> {
    let words = ["alpha", "beta", "gamma", "delta", "epsilon", "omega"];
    put_var(file, "char_var", &["x", "strlen"], &char_rows(&words, STRLEN)?, &long_name("NC_CHAR words, NUL padded"))?;
    let strings = [
        "short",
        "a longer string with spaces",
        "quote \" and backslash \\",
        "température °C – 日本",
        "",
        "line one\nline two",
    ];
    let mut var = file.add_string_variable("string_var", &["x"])?;
    put_var_attributes(&mut var, &long_name("NC_STRING values"))?;
    for (i, s) in strings.iter().enumerate() {
        var.put_string(s, i)?;
    }
    Ok(())
}

/// The packed variable and the scalar.
fn write_special(file: &mut FileMut) -> Result<()> {
    // 250 K .. 298.5 K packed as hundredths around 273.15 K, with two missing cells.
    let mut packed: Vec<i16> = (0..NY * NX).map(|k| -2315 + 211 * k as i16).collect();
    packed[3] = PACKED_FILL;
    packed[17] = PACKED_FILL;
    put_var(
        file,
        "packed_temp",
        &["y", "x"],
        &packed,
        &[
            attr("long_name", "packed temperature"),
            attr("standard_name", "air_temperature"),
            attr("units", "K"),
            attr("scale_factor", 0.01_f32),
            attr("add_offset", 273.15_f32),
            attr("_FillValue", PACKED_FILL),
        ],
    )?;
    put_var(
        file,
        "scalar_var",
        &[],
        &[42.5_f64],
        &[attr("long_name", "a scalar (0-dimensional) double"), attr("units", "m")],
    )
}

/// Attributes of every type, and text that must be escaped by every encoder.
fn global_attributes() -> Vec<Attr> {
    vec![
        attr("title", "every NetCDF-4 atomic type and awkward attributes"),
        attr(
            "history",
            format!("{}\n2025-01-02T00:00:00Z: a second line\n2025-01-03T00:00:00Z: a third line", history()),
        ),
        attr("quoted", "He said \"hello\" and left C:\\temp\\new\\ behind"),
        attr("non_ascii", "température °C – 日本"),
        attr("tab_and_newline", "a\tb\nc"),
        attr("empty", ""),
        attr("string_list", vec!["one", "two, three", "four \"4\"", "fünf"]),
        attr("att_byte", -5_i8),
        attr("att_ubyte", 250_u8),
        attr("att_short", -1234_i16),
        attr("att_ushort", 65_000_u16),
        attr("att_int", -123_456_i32),
        attr("att_uint", 4_000_000_000_u32),
        attr("att_int64", -5_000_000_000_i64),
        attr("att_uint64", 10_000_000_000_000_000_000_u64),
        attr("att_float", 3.5_f32),
        attr("att_double", std::f64::consts::PI),
        attr("att_float_nan", f32::NAN),
        attr("att_float_big", 1.0e20_f32),
        attr("att_double_nan", f64::NAN),
        attr("att_int_array", vec![1_i32, -2, 3]),
        attr("att_double_array", vec![0.5_f64, -1.0e-10, 2.0e10]),
    ]
}
