//! Small additions to the netcdf crate: an `NC_CHAR` element type and attribute lists.

use anyhow::{Context, Result};
use netcdf::types::{NcTypeDescriptor, NcVariableType};
use netcdf::{AttributeValue, FileMut, VariableMut};

/// One `NC_CHAR` element. The netcdf crate maps `u8` to `NC_UBYTE`; this type lets
/// `add_variable`/`put_values` create and fill character arrays.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct NcChar(pub u8);

// SAFETY: `NcChar` is a `repr(transparent)` wrapper of one byte, which is exactly the
// in-memory layout libnetcdf uses for `NC_CHAR` values.
#[allow(unsafe_code)]
unsafe impl NcTypeDescriptor for NcChar {
    fn type_descriptor() -> NcVariableType {
        NcVariableType::Char
    }
}

/// `words` as rows of a `(words.len(), width)` character array, NUL-padded.
pub(crate) fn char_rows(words: &[&str], width: usize) -> Result<Vec<NcChar>> {
    let mut out = Vec::with_capacity(words.len() * width);
    for word in words {
        anyhow::ensure!(word.len() <= width, "{word:?} is longer than the {width} characters of its row");
        out.extend(word.bytes().map(NcChar));
        out.resize(out.len() + width - word.len(), NcChar(0));
    }
    Ok(out)
}

/// An attribute name and value.
pub(crate) type Attr = (String, AttributeValue);

/// Shorthand for building attribute lists.
pub(crate) fn attr(name: &str, value: impl Into<AttributeValue>) -> Attr {
    (name.to_string(), value.into())
}

/// Puts every attribute of `attrs` on `var`.
pub(crate) fn put_var_attributes(var: &mut VariableMut<'_>, attrs: &[Attr]) -> Result<()> {
    for (name, value) in attrs {
        if let Err(e) = var.put_attribute(name, value.clone()) {
            return Err(e).with_context(|| format!("attribute {}:{name}", var.name()));
        }
    }
    Ok(())
}

/// Puts every attribute of `attrs` on the root group of `file`.
pub(crate) fn put_global_attributes(file: &mut FileMut, attrs: &[Attr]) -> Result<()> {
    for (name, value) in attrs {
        file.add_attribute(name, value.clone()).with_context(|| format!("global attribute {name}"))?;
    }
    Ok(())
}

/// The variable `name` of `file`, for writing.
pub(crate) fn variable_mut<'f>(file: &'f mut FileMut, name: &str) -> Result<VariableMut<'f>> {
    file.variable_mut(name).with_context(|| format!("variable {name} was not defined"))
}
