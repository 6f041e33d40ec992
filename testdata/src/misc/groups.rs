//! `groups.nc`: NetCDF-4 with nested groups `g1` and `g1/g2`, each with its own
//! dimension, variables and attributes; inner variables also use dimensions of
//! their ancestors (as DAP4 must resolve them).

use std::path::Path;

use anyhow::{Context, Result};
use netcdf::GroupMut;

use crate::metadata::history;
use crate::netcdf_ext::{attr, put_global_attributes, put_var_attributes, Attr};

/// Writes the file at `path`.
pub(super) fn write(path: &Path) -> Result<()> {
    let mut file = netcdf::create(path)?;
    put_global_attributes(
        &mut file,
        &[attr("title", "nested groups"), attr("Conventions", "CF-1.8"), attr("history", history())],
    )?;
    file.add_dimension("x", 3)?;
    let mut x = file.add_variable::<f64>("x", &["x"])?;
    put_var_attributes(&mut x, &[attr("units", "m"), attr("axis", "X")])?;
    x.put_values(&[0.0, 100.0, 200.0], ..)?;
    let mut root_var = file.add_variable::<f32>("root_var", &["x"])?;
    put_var_attributes(&mut root_var, &[attr("long_name", "variable in the root group")])?;
    root_var.put_values(&[1.5_f32, 2.5, 3.5], ..)?;

    let mut g1 = file.add_group("g1")?;
    write_g1(&mut g1)?;
    let mut g2 = g1.add_group("g2")?;
    write_g2(&mut g2)?;
    file.close()?;
    Ok(())
}

fn put_group_attributes(group: &mut GroupMut<'_>, attrs: &[Attr]) -> Result<()> {
    for (name, value) in attrs {
        group.add_attribute(name, value.clone()).with_context(|| format!("group attribute {name}"))?;
    }
    Ok(())
}

/// `g1`: dimension `y`, coordinate `y`, `g1_var(y, x)` using the root's `x`.
fn write_g1(g1: &mut GroupMut<'_>) -> Result<()> {
    put_group_attributes(g1, &[attr("group_title", "first-level group"), attr("level", 1_i32)])?;
    g1.add_dimension("y", 4)?;
    let mut y = g1.add_variable::<f64>("y", &["y"])?;
    put_var_attributes(&mut y, &[attr("units", "m"), attr("axis", "Y")])?;
    y.put_values(&[0.0, 50.0, 100.0, 150.0], ..)?;
    let mut var = g1.add_variable::<f32>("g1_var", &["y", "x"])?;
    put_var_attributes(&mut var, &[attr("long_name", "variable in g1 (dimensions y, x)"), attr("units", "K")])?;
    let values: Vec<f32> = (0..12).map(|k| 270.0 + k as f32).collect();
    var.put_values(&values, ..)?;
    Ok(())
}

/// `g1/g2`: dimension `z`, `g2_var(z, y)` using the parent's `y`, a string attribute.
fn write_g2(g2: &mut GroupMut<'_>) -> Result<()> {
    put_group_attributes(
        g2,
        &[attr("group_title", "second-level group"), attr("level", 2_i32), attr("tags", vec!["nested", "inner"])],
    )?;
    g2.add_dimension("z", 2)?;
    let mut var = g2.add_variable::<i32>("g2_var", &["z", "y"])?;
    put_var_attributes(&mut var, &[attr("long_name", "variable in g1/g2 (dimensions z, y)"), attr("units", "1")])?;
    var.put_values(&[1_i32, 2, 3, 4, 5, 6, 7, 8], ..)?;
    Ok(())
}
