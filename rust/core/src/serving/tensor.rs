//! Tensors as the serving path moves them: an element type, a shape and the raw little-endian
//! bytes, so rows from many requests concatenate into one contiguous batch without conversion.
//!
//! Variable-length elements (`BYTES`) use the encoding of the Open Inference Protocol's binary
//! extension: each element is a 4-byte little-endian length followed by its bytes.

use serde::Serialize;
use smallvec::SmallVec;

/// The shape of one row (a tensor without its batch dimension), inline up to four dimensions
/// so queuing a row allocates nothing for it.
pub type RowShape = SmallVec<[usize; 4]>;

/// The element types of the Open Inference Protocol v2; each maps onto a NumPy dtype.
/// Serialized as the protocol's name (`"FP32"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    Bool,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Int8,
    Int16,
    Int32,
    Int64,
    Fp16,
    Fp32,
    Fp64,
    /// Variable-length byte strings (NumPy `object` or `bytes_`/`str_` arrays).
    Bytes,
}

impl DataType {
    /// Every type, in the order the protocol lists them.
    pub const ALL: [Self; 13] = [
        Self::Bool,
        Self::Uint8,
        Self::Uint16,
        Self::Uint32,
        Self::Uint64,
        Self::Int8,
        Self::Int16,
        Self::Int32,
        Self::Int64,
        Self::Fp16,
        Self::Fp32,
        Self::Fp64,
        Self::Bytes,
    ];

    /// The protocol's name: `"FP32"`, `"INT64"`, `"BYTES"`...
    pub fn v2_name(self) -> &'static str {
        match self {
            Self::Bool => "BOOL",
            Self::Uint8 => "UINT8",
            Self::Uint16 => "UINT16",
            Self::Uint32 => "UINT32",
            Self::Uint64 => "UINT64",
            Self::Int8 => "INT8",
            Self::Int16 => "INT16",
            Self::Int32 => "INT32",
            Self::Int64 => "INT64",
            Self::Fp16 => "FP16",
            Self::Fp32 => "FP32",
            Self::Fp64 => "FP64",
            Self::Bytes => "BYTES",
        }
    }

    /// Parses a protocol name (exact, upper case as the protocol spells it).
    pub fn from_v2_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.v2_name() == name)
    }

    /// The NumPy dtype string (`dtype.str`) of this type; `BYTES` is an object array.
    pub fn numpy(self) -> &'static str {
        match self {
            Self::Bool => "|b1",
            Self::Uint8 => "|u1",
            Self::Uint16 => "<u2",
            Self::Uint32 => "<u4",
            Self::Uint64 => "<u8",
            Self::Int8 => "|i1",
            Self::Int16 => "<i2",
            Self::Int32 => "<i4",
            Self::Int64 => "<i8",
            Self::Fp16 => "<f2",
            Self::Fp32 => "<f4",
            Self::Fp64 => "<f8",
            Self::Bytes => "|O",
        }
    }

    /// Parses a NumPy dtype string as `dtype.str` prints it (`"<f4"`, `"|b1"`, `"|O"`, `"<U8"`,
    /// `"|S4"`); strings and objects are `BYTES`. Big-endian types are not accepted.
    pub fn from_numpy(dtype: &str) -> Option<Self> {
        if let Some(found) = Self::ALL.into_iter().find(|t| t.numpy() == dtype) {
            return Some(found);
        }
        let (order, kind) = (dtype.chars().next()?, dtype.get(1..2)?);
        match (order, kind) {
            ('<' | '|' | '=', "U" | "S" | "O") => Some(Self::Bytes),
            _ => None,
        }
    }

    /// Bytes per element, or `None` for the variable-length `BYTES`.
    pub fn size(self) -> Option<usize> {
        match self {
            Self::Bool | Self::Uint8 | Self::Int8 => Some(1),
            Self::Uint16 | Self::Int16 | Self::Fp16 => Some(2),
            Self::Uint32 | Self::Int32 | Self::Fp32 => Some(4),
            Self::Uint64 | Self::Int64 | Self::Fp64 => Some(8),
            Self::Bytes => None,
        }
    }
}

impl Serialize for DataType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.v2_name())
    }
}

impl std::fmt::Display for DataType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.v2_name())
    }
}

/// A named input or output of a model: element type and shape, `-1` for a free dimension (the
/// first is the batch dimension).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TensorSpec {
    pub name: String,
    #[serde(rename = "datatype")]
    pub dtype: DataType,
    pub shape: Vec<i64>,
}

impl TensorSpec {
    /// The shape of one row: every dimension after the batch dimension.
    pub fn row_shape(&self) -> &[i64] {
        self.shape.get(1..).unwrap_or(&[])
    }
}

/// A dense tensor: its element type, shape and raw little-endian bytes (the `BYTES` encoding
/// for variable-length elements).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor {
    pub dtype: DataType,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl Tensor {
    /// Number of elements: the product of the shape.
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// Checks that `data` holds exactly `shape`'s elements of `dtype`.
    pub fn validate(&self) -> Result<(), String> {
        let elements = self.elements();
        match self.dtype.size() {
            Some(size) if self.data.len() == elements * size => Ok(()),
            Some(size) => Err(format!(
                "{} bytes do not hold shape {:?} of {} ({} bytes expected)",
                self.data.len(),
                self.shape,
                self.dtype,
                elements * size
            )),
            None => bytes_element_ends(&self.data, elements).map(|_| ()),
        }
    }

    /// Byte offsets where each of the first-axis rows starts, plus the end: `rows + 1` values.
    pub fn row_offsets(&self) -> Result<Vec<usize>, String> {
        let rows = self.shape.first().copied().unwrap_or(1);
        let per_row: usize = self.shape.iter().skip(1).product();
        if let Some(size) = self.dtype.size() {
            return Ok((0..=rows).map(|row| row * per_row * size).collect());
        }
        let ends = bytes_element_ends(&self.data, rows * per_row)?;
        Ok((0..=rows)
            .map(|row| match row * per_row {
                0 => 0,
                elements => ends[elements - 1],
            })
            .collect())
    }
}

/// The end offset of each of `count` length-prefixed `BYTES` elements in `data`, which must hold
/// exactly those elements.
pub fn bytes_element_ends(data: &[u8], count: usize) -> Result<Vec<usize>, String> {
    let mut ends = Vec::with_capacity(count);
    let mut at = 0usize;
    for index in 0..count {
        let Some(prefix) = data.get(at..at + 4) else {
            return Err(format!(
                "BYTES element {index} is missing: the data ends at byte {at} (each element is a 4-byte little-endian length, then the bytes)"
            ));
        };
        let length = u32::from_le_bytes(prefix.try_into().expect("4 bytes")) as usize;
        at += 4;
        if data.len() < at + length {
            return Err(format!(
                "BYTES element {index} declares {length} bytes but only {} remain",
                data.len() - at
            ));
        }
        at += length;
        ends.push(at);
    }
    if at != data.len() {
        return Err(format!(
            "{} bytes follow the {count} BYTES elements the shape calls for",
            data.len() - at
        ));
    }
    Ok(ends)
}

/// Appends one `BYTES` element in the length-prefixed encoding.
pub fn push_bytes_element(out: &mut Vec<u8>, element: &[u8]) {
    let length = u32::try_from(element.len()).expect("BYTES elements are under 4 GiB");
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(element);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_and_protocol_names_round_trip() {
        for dtype in DataType::ALL {
            assert_eq!(DataType::from_v2_name(dtype.v2_name()), Some(dtype));
            assert_eq!(DataType::from_numpy(dtype.numpy()), Some(dtype));
        }
        assert_eq!(DataType::from_numpy("<U12"), Some(DataType::Bytes));
        assert_eq!(DataType::from_numpy(">f4"), None);
        assert_eq!(DataType::from_v2_name("fp32"), None);
    }

    #[test]
    fn row_offsets_of_fixed_and_variable_elements() {
        let fixed = Tensor {
            dtype: DataType::Fp32,
            shape: vec![3, 2],
            data: vec![0; 24],
        };
        assert_eq!(fixed.row_offsets().unwrap(), vec![0, 8, 16, 24]);

        let mut data = Vec::new();
        for word in ["a", "bcd", "", "ef"] {
            push_bytes_element(&mut data, word.as_bytes());
        }
        let strings = Tensor {
            dtype: DataType::Bytes,
            shape: vec![2, 2],
            data,
        };
        strings.validate().unwrap();
        assert_eq!(strings.row_offsets().unwrap(), vec![0, 12, 22]);
    }

    #[test]
    fn truncated_bytes_elements_are_named() {
        let mut data = Vec::new();
        push_bytes_element(&mut data, b"hello");
        data.pop();
        let err = bytes_element_ends(&data, 1).unwrap_err();
        assert!(err.contains("declares 5 bytes"), "{err}");
        let err = Tensor {
            dtype: DataType::Fp64,
            shape: vec![2],
            data: vec![0; 15],
        }
        .validate()
        .unwrap_err();
        assert!(err.contains("16 bytes expected"), "{err}");
    }
}
