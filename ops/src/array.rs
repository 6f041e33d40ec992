//! Typed arrays of values read from a variable.

use crate::model::DataType;

/// Values of one element type, in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    I8(Vec<i8>),
    U8(Vec<u8>),
    I16(Vec<i16>),
    U16(Vec<u16>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    /// Raw `NC_CHAR` bytes.
    Char(Vec<u8>),
    Str(Vec<String>),
    /// Elements of a compound, opaque or variable-length type.
    Values(Vec<Value>),
}

/// One element of a user-defined type, or the elements of a field.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Atomic values (all elements of an atomic field, or of a vlen of atoms).
    Atoms(Data),
    /// One opaque blob.
    Opaque(Vec<u8>),
    /// The fields of one compound element, each holding all its elements.
    Compound(Vec<Value>),
    /// One variable-length element: its items (atoms, or a list of user elements).
    Vlen(Box<Value>),
    /// Several elements of a user-defined type.
    List(Vec<Value>),
}

/// Apply an expression to the vector inside a [`Data`], whatever its type.
#[macro_export]
macro_rules! with_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            $crate::Data::I8($v) => $body,
            $crate::Data::U8($v) => $body,
            $crate::Data::I16($v) => $body,
            $crate::Data::U16($v) => $body,
            $crate::Data::I32($v) => $body,
            $crate::Data::U32($v) => $body,
            $crate::Data::I64($v) => $body,
            $crate::Data::U64($v) => $body,
            $crate::Data::F32($v) => $body,
            $crate::Data::F64($v) => $body,
            $crate::Data::Char($v) => $body,
            $crate::Data::Str($v) => $body,
            $crate::Data::Values($v) => $body,
        }
    };
}

/// Build a [`Data`] of type `$dt` from a generic constructor `$make::<T>()`.
macro_rules! data_of_type {
    ($dt:expr, $make:ident $(, $arg:expr)*) => {
        match $dt {
            DataType::I8 => Data::I8($make::<i8>($($arg),*)),
            DataType::U8 => Data::U8($make::<u8>($($arg),*)),
            DataType::I16 => Data::I16($make::<i16>($($arg),*)),
            DataType::U16 => Data::U16($make::<u16>($($arg),*)),
            DataType::I32 => Data::I32($make::<i32>($($arg),*)),
            DataType::U32 => Data::U32($make::<u32>($($arg),*)),
            DataType::I64 => Data::I64($make::<i64>($($arg),*)),
            DataType::U64 => Data::U64($make::<u64>($($arg),*)),
            DataType::F32 => Data::F32($make::<f32>($($arg),*)),
            DataType::F64 => Data::F64($make::<f64>($($arg),*)),
            DataType::Char => Data::Char($make::<u8>($($arg),*)),
            DataType::Str => Data::Str($make::<String>($($arg),*)),
            DataType::Enum(_) | DataType::Opaque(_) | DataType::Compound(_) | DataType::Vlen(_) => {
                Data::Values($make::<Value>($($arg),*))
            }
        }
    };
}

fn zeros<T: Default + Clone>(n: usize) -> Vec<T> {
    vec![T::default(); n]
}

impl Default for Value {
    fn default() -> Self {
        Value::List(Vec::new())
    }
}

fn empty_with_capacity<T>(n: usize) -> Vec<T> {
    Vec::with_capacity(n)
}

impl Data {
    /// Values of a numeric type from their `f64` form (exact for values that came from
    /// that type, except 64-bit integers beyond 2^53: None for those types and others).
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    pub fn from_f64(dtype: DataType, v: Vec<f64>) -> Option<Data> {
        Some(match dtype {
            DataType::F64 => Data::F64(v),
            DataType::F32 => Data::F32(v.into_iter().map(|x| x as f32).collect()),
            DataType::I32 => Data::I32(v.into_iter().map(|x| x as i32).collect()),
            DataType::U32 => Data::U32(v.into_iter().map(|x| x as u32).collect()),
            DataType::I16 => Data::I16(v.into_iter().map(|x| x as i16).collect()),
            DataType::U16 => Data::U16(v.into_iter().map(|x| x as u16).collect()),
            DataType::I8 => Data::I8(v.into_iter().map(|x| x as i8).collect()),
            DataType::U8 => Data::U8(v.into_iter().map(|x| x as u8).collect()),
            _ => return None,
        })
    }

    /// `n` zero (or empty-string) values of type `dtype`.
    pub fn zeros(dtype: DataType, n: usize) -> Data {
        data_of_type!(dtype, zeros, n)
    }

    /// An empty array of type `dtype` with room for `n` values.
    pub fn with_capacity(dtype: DataType, n: usize) -> Data {
        data_of_type!(dtype, empty_with_capacity, n)
    }

    /// The element type (`Values` report `Vlen(u32::MAX)`: their type is the variable's).
    pub fn dtype(&self) -> DataType {
        match self {
            Data::Values(_) => DataType::Vlen(u32::MAX),
            Data::I8(_) => DataType::I8,
            Data::U8(_) => DataType::U8,
            Data::I16(_) => DataType::I16,
            Data::U16(_) => DataType::U16,
            Data::I32(_) => DataType::I32,
            Data::U32(_) => DataType::U32,
            Data::I64(_) => DataType::I64,
            Data::U64(_) => DataType::U64,
            Data::F32(_) => DataType::F32,
            Data::F64(_) => DataType::F64,
            Data::Char(_) => DataType::Char,
            Data::Str(_) => DataType::Str,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        with_data!(self, v => v.len())
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Append the values of `other` (same type) to `self`.
    pub fn extend_from(&mut self, other: &Data) {
        self.extend_from_range(other, 0..other.len());
    }

    /// Append the values `range` of `other` (same type) to `self`.
    pub fn extend_from_range(&mut self, other: &Data, range: std::ops::Range<usize>) {
        let r = range;
        match (self, other) {
            (Data::I8(a), Data::I8(b)) => a.extend_from_slice(&b[r]),
            (Data::U8(a), Data::U8(b)) | (Data::Char(a), Data::Char(b)) => a.extend_from_slice(&b[r]),
            (Data::I16(a), Data::I16(b)) => a.extend_from_slice(&b[r]),
            (Data::U16(a), Data::U16(b)) => a.extend_from_slice(&b[r]),
            (Data::I32(a), Data::I32(b)) => a.extend_from_slice(&b[r]),
            (Data::U32(a), Data::U32(b)) => a.extend_from_slice(&b[r]),
            (Data::I64(a), Data::I64(b)) => a.extend_from_slice(&b[r]),
            (Data::U64(a), Data::U64(b)) => a.extend_from_slice(&b[r]),
            (Data::F32(a), Data::F32(b)) => a.extend_from_slice(&b[r]),
            (Data::F64(a), Data::F64(b)) => a.extend_from_slice(&b[r]),
            (Data::Str(a), Data::Str(b)) => a.extend_from_slice(&b[r]),
            (a, b) => panic!("extend_from: type mismatch {:?} vs {:?}", a.dtype(), b.dtype()),
        }
    }

    /// Copy `rows` runs of `run` values from `src` (contiguous from `src_start`) into
    /// `self` at `dst_start + r * dst_step` for each run `r`. Used to place a block read
    /// from one file into a larger output along an inner axis.
    pub fn scatter_runs(
        &mut self,
        src: &Data,
        src_start: usize,
        run: usize,
        rows: usize,
        dst_start: usize,
        dst_step: usize,
    ) {
        fn copy<T: Clone>(
            dst: &mut [T],
            src: &[T],
            src_start: usize,
            run: usize,
            rows: usize,
            start: usize,
            step: usize,
        ) {
            for r in 0..rows {
                let (d, s) = (start + r * step, src_start + r * run);
                dst[d..d + run].clone_from_slice(&src[s..s + run]);
            }
        }
        let (s0, n, rows, d0, step) = (src_start, run, rows, dst_start, dst_step);
        match (self, src) {
            (Data::I8(a), Data::I8(b)) => copy(a, b, s0, n, rows, d0, step),
            (Data::U8(a), Data::U8(b)) | (Data::Char(a), Data::Char(b)) => copy(a, b, s0, n, rows, d0, step),
            (Data::I16(a), Data::I16(b)) => copy(a, b, s0, n, rows, d0, step),
            (Data::U16(a), Data::U16(b)) => copy(a, b, s0, n, rows, d0, step),
            (Data::I32(a), Data::I32(b)) => copy(a, b, s0, n, rows, d0, step),
            (Data::U32(a), Data::U32(b)) => copy(a, b, s0, n, rows, d0, step),
            (Data::I64(a), Data::I64(b)) => copy(a, b, s0, n, rows, d0, step),
            (Data::U64(a), Data::U64(b)) => copy(a, b, s0, n, rows, d0, step),
            (Data::F32(a), Data::F32(b)) => copy(a, b, s0, n, rows, d0, step),
            (Data::F64(a), Data::F64(b)) => copy(a, b, s0, n, rows, d0, step),
            (Data::Str(a), Data::Str(b)) => copy(a, b, s0, n, rows, d0, step),
            (a, b) => panic!("scatter_runs: type mismatch {:?} vs {:?}", a.dtype(), b.dtype()),
        }
    }

    /// Append the values as little-endian bytes (chars as they are); false for
    /// strings and user-defined values, which each format lays out its own way.
    pub fn extend_le(&self, buf: &mut Vec<u8>) -> bool {
        fn le<T: Copy, const N: usize>(buf: &mut Vec<u8>, v: &[T], f: impl Fn(T) -> [u8; N]) {
            // into a sized buffer: a loop the compiler turns into a copy on little-endian
            let start = buf.len();
            buf.resize(start + v.len() * N, 0);
            for (dst, &x) in buf[start..].chunks_exact_mut(N).zip(v) {
                dst.copy_from_slice(&f(x));
            }
        }
        match self {
            Data::I8(v) => le(buf, v, i8::to_le_bytes),
            Data::U8(v) | Data::Char(v) => buf.extend_from_slice(v),
            Data::I16(v) => le(buf, v, i16::to_le_bytes),
            Data::U16(v) => le(buf, v, u16::to_le_bytes),
            Data::I32(v) => le(buf, v, i32::to_le_bytes),
            Data::U32(v) => le(buf, v, u32::to_le_bytes),
            Data::I64(v) => le(buf, v, i64::to_le_bytes),
            Data::U64(v) => le(buf, v, u64::to_le_bytes),
            Data::F32(v) => le(buf, v, f32::to_le_bytes),
            Data::F64(v) => le(buf, v, f64::to_le_bytes),
            Data::Str(_) | Data::Values(_) => return false,
        }
        true
    }

    /// The values as little-endian bytes without a copy on little-endian machines
    /// (numbers and chars; strings and generic values are given back).
    pub fn into_le_bytes(self) -> Result<bytes::Bytes, Data> {
        if matches!(self, Data::Str(_) | Data::Values(_)) {
            return Err(self);
        }
        if cfg!(target_endian = "little") {
            return Ok(bytes::Bytes::from_owner(LeBytes(self)));
        }
        let mut out = Vec::new();
        self.extend_le(&mut out);
        Ok(out.into())
    }

    /// Values converted to f64 (None for text types).
    pub fn to_f64(&self) -> Option<Vec<f64>> {
        #[allow(clippy::cast_precision_loss)]
        Some(match self {
            Data::I8(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::U8(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::I16(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::U16(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::U32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::I64(v) => v.iter().map(|&x| x as f64).collect(),
            Data::U64(v) => v.iter().map(|&x| x as f64).collect(),
            Data::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::F64(v) => v.clone(),
            Data::Char(_) | Data::Str(_) | Data::Values(_) => return None,
        })
    }
}

/// An n-dimensional block of values.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Data,
}

impl Array {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// A one-value attribute of type `t` holding `x`.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn attr_of(t: DataType, x: f64) -> crate::AttrValue {
    use crate::AttrValue as A;
    match t {
        DataType::I8 => A::I8(vec![x as i8]),
        DataType::U8 => A::U8(vec![x as u8]),
        DataType::I16 => A::I16(vec![x as i16]),
        DataType::U16 => A::U16(vec![x as u16]),
        DataType::I32 => A::I32(vec![x as i32]),
        DataType::U32 => A::U32(vec![x as u32]),
        DataType::I64 => A::I64(vec![x as i64]),
        DataType::U64 => A::U64(vec![x as u64]),
        DataType::F32 => A::F32(vec![x as f32]),
        _ => A::F64(vec![x]),
    }
}

/// Numbers and chars seen as their bytes in memory (little-endian on such machines).
struct LeBytes(Data);

impl AsRef<[u8]> for LeBytes {
    fn as_ref(&self) -> &[u8] {
        use bytemuck::cast_slice as bytes;
        match &self.0 {
            Data::I8(v) => bytes(v),
            Data::U8(v) | Data::Char(v) => v,
            Data::I16(v) => bytes(v),
            Data::U16(v) => bytes(v),
            Data::I32(v) => bytes(v),
            Data::U32(v) => bytes(v),
            Data::I64(v) => bytes(v),
            Data::U64(v) => bytes(v),
            Data::F32(v) => bytes(v),
            Data::F64(v) => bytes(v),
            Data::Str(_) | Data::Values(_) => &[],
        }
    }
}
