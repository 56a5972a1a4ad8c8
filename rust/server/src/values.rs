//! Tensor elements between JSON and raw little-endian bytes, for every protocol datatype.

use std::fmt::Write;

use aidot_core::serving::tensor::push_bytes_element;
use aidot_core::serving::DataType;
use half::f16;
use serde_json::Value;

/// Appends a JSON number as one element of `dtype`, refusing values the type cannot hold.
pub fn push_number(dtype: DataType, value: f64, out: &mut Vec<u8>) -> Result<(), String> {
    let integral = |min: f64, max: f64| -> Result<f64, String> {
        if value.fract() != 0.0 || value < min || value > max {
            Err(format!(
                "{value} is not a {dtype} value (an integer in {min}..={max})"
            ))
        } else {
            Ok(value)
        }
    };
    #[allow(clippy::cast_sign_loss)] // checked by `integral`
    match dtype {
        DataType::Fp64 => out.extend_from_slice(&value.to_le_bytes()),
        DataType::Fp32 => {
            let narrow = value as f32;
            if narrow.is_infinite() {
                return Err(format!("{value} is outside the FP32 range"));
            }
            out.extend_from_slice(&narrow.to_le_bytes());
        }
        DataType::Fp16 => {
            let narrow = f16::from_f64(value);
            if narrow.is_infinite() {
                return Err(format!("{value} is outside the FP16 range"));
            }
            out.extend_from_slice(&narrow.to_le_bytes());
        }
        DataType::Bool => out.push(u8::from(integral(0.0, 1.0)? > 0.5)),
        DataType::Uint8 => out.push(integral(0.0, 255.0)? as u8),
        DataType::Uint16 => out.extend_from_slice(&(integral(0.0, 65_535.0)? as u16).to_le_bytes()),
        DataType::Uint32 => {
            out.extend_from_slice(&(integral(0.0, 4_294_967_295.0)? as u32).to_le_bytes());
        }
        DataType::Uint64 => {
            out.extend_from_slice(
                &(integral(0.0, 18_446_744_073_709_551_615.0)? as u64).to_le_bytes(),
            );
        }
        DataType::Int8 => out.push((integral(-128.0, 127.0)? as i8).to_le_bytes()[0]),
        DataType::Int16 => {
            out.extend_from_slice(&(integral(-32_768.0, 32_767.0)? as i16).to_le_bytes());
        }
        DataType::Int32 => out.extend_from_slice(
            &(integral(-2_147_483_648.0, 2_147_483_647.0)? as i32).to_le_bytes(),
        ),
        DataType::Int64 => out.extend_from_slice(
            &(integral(-9_223_372_036_854_775_808.0, 9_223_372_036_854_775_807.0)? as i64)
                .to_le_bytes(),
        ),
        DataType::Bytes => {
            return Err(format!(
                "{value} is a number but the tensor holds BYTES; send strings"
            ))
        }
    }
    Ok(())
}

/// Appends one JSON element (number, boolean or string, as `dtype` wants).
pub fn push_json(dtype: DataType, value: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    match (dtype, value) {
        (DataType::Bool, Value::Bool(flag)) => out.push(u8::from(*flag)),
        (DataType::Bytes, Value::String(text)) => push_bytes_element(out, text.as_bytes()),
        // Integers beyond 2^53 keep their exact value.
        (DataType::Int64, Value::Number(number)) if number.as_i64().is_some() => {
            out.extend_from_slice(&number.as_i64().expect("checked").to_le_bytes());
        }
        (DataType::Uint64, Value::Number(number)) if number.as_u64().is_some() => {
            out.extend_from_slice(&number.as_u64().expect("checked").to_le_bytes());
        }
        (_, Value::Number(number)) => {
            push_number(
                dtype,
                number.as_f64().expect("JSON numbers are finite"),
                out,
            )?;
        }
        (DataType::Bool, other) => return Err(format!("{other} is not a BOOL (true or false)")),
        (DataType::Bytes, other) => return Err(format!("{other} is not a string")),
        (_, other) => return Err(format!("{other} is not a {dtype} number")),
    }
    Ok(())
}

/// Appends every element of a (possibly nested) JSON array in row-major order, returning how
/// many there were; `path` names the field in errors.
pub fn push_json_tree(
    dtype: DataType,
    value: &Value,
    path: &str,
    out: &mut Vec<u8>,
) -> Result<usize, String> {
    fn walk(
        dtype: DataType,
        value: &Value,
        path: &mut String,
        out: &mut Vec<u8>,
        count: &mut usize,
    ) -> Result<(), String> {
        if let Value::Array(items) = value {
            for (index, item) in items.iter().enumerate() {
                let length = path.len();
                let _ = write!(path, "[{index}]");
                walk(dtype, item, path, out, count)?;
                path.truncate(length);
            }
            return Ok(());
        }
        push_json(dtype, value, out).map_err(|err| format!("{path}: {err}"))?;
        *count += 1;
        Ok(())
    }
    let mut count = 0;
    walk(dtype, value, &mut path.to_owned(), out, &mut count)?;
    Ok(count)
}

/// Writes the elements of `data` (raw `dtype` bytes) as comma-separated JSON values.
pub fn write_json_elements(dtype: DataType, data: &[u8], out: &mut Vec<u8>) {
    fn each<const N: usize>(data: &[u8], out: &mut Vec<u8>, write: impl Fn([u8; N], &mut Vec<u8>)) {
        for (index, chunk) in data.chunks_exact(N).enumerate() {
            if index > 0 {
                out.push(b',');
            }
            write(chunk.try_into().expect("chunk of N bytes"), out);
        }
    }
    let number = |out: &mut Vec<u8>, value: &dyn erased::Number| value.write(out);
    match dtype {
        DataType::Bool => each::<1>(data, out, |b, out| {
            out.extend_from_slice(if b[0] == 0 { b"false" } else { b"true" });
        }),
        DataType::Uint8 => each::<1>(data, out, |b, out| number(out, &b[0])),
        DataType::Int8 => each::<1>(data, out, |b, out| number(out, &i8::from_le_bytes(b))),
        DataType::Uint16 => each::<2>(data, out, |b, out| number(out, &u16::from_le_bytes(b))),
        DataType::Int16 => each::<2>(data, out, |b, out| number(out, &i16::from_le_bytes(b))),
        DataType::Uint32 => each::<4>(data, out, |b, out| number(out, &u32::from_le_bytes(b))),
        DataType::Int32 => each::<4>(data, out, |b, out| number(out, &i32::from_le_bytes(b))),
        DataType::Uint64 => each::<8>(data, out, |b, out| number(out, &u64::from_le_bytes(b))),
        DataType::Int64 => each::<8>(data, out, |b, out| number(out, &i64::from_le_bytes(b))),
        DataType::Fp16 => each::<2>(data, out, |b, out| {
            number(out, &f16::from_le_bytes(b).to_f32());
        }),
        DataType::Fp32 => each::<4>(data, out, |b, out| number(out, &f32::from_le_bytes(b))),
        DataType::Fp64 => each::<8>(data, out, |b, out| number(out, &f64::from_le_bytes(b))),
        DataType::Bytes => {
            let mut at = 0;
            let mut first = true;
            while at + 4 <= data.len() {
                let length =
                    u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes")) as usize;
                let end = (at + 4 + length).min(data.len());
                if !first {
                    out.push(b',');
                }
                first = false;
                let text = String::from_utf8_lossy(&data[at + 4..end]);
                serde_json::to_writer(&mut *out, &text).expect("writing to a Vec");
                at = end;
            }
        }
    }
}

mod erased {
    /// A number `serde_json` can write (non-finite floats become `null`).
    pub trait Number {
        fn write(&self, out: &mut Vec<u8>);
    }

    impl<T: serde::Serialize> Number for T {
        fn write(&self, out: &mut Vec<u8>) {
            serde_json::to_writer(out, self).expect("writing to a Vec");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(dtype: DataType, json: &str) -> String {
        let value: Value = serde_json::from_str(json).unwrap();
        let mut bytes = Vec::new();
        let count = push_json_tree(dtype, &value, "data", &mut bytes).unwrap();
        assert!(count > 0);
        let mut out = Vec::new();
        write_json_elements(dtype, &bytes, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_datatype_round_trips_through_json() {
        assert_eq!(round_trip(DataType::Bool, "[true,false]"), "true,false");
        assert_eq!(round_trip(DataType::Uint8, "[0,255]"), "0,255");
        assert_eq!(round_trip(DataType::Int8, "[-128,127]"), "-128,127");
        assert_eq!(round_trip(DataType::Uint16, "[65535]"), "65535");
        assert_eq!(round_trip(DataType::Int16, "[-2]"), "-2");
        assert_eq!(round_trip(DataType::Uint32, "[4294967295]"), "4294967295");
        assert_eq!(round_trip(DataType::Int32, "[[1,2],[3,4]]"), "1,2,3,4");
        assert_eq!(
            round_trip(DataType::Uint64, "[18446744073709551615]"),
            "18446744073709551615"
        );
        assert_eq!(
            round_trip(DataType::Int64, "[-9007199254740993]"),
            "-9007199254740993"
        );
        assert_eq!(round_trip(DataType::Fp16, "[1.5,-2]"), "1.5,-2.0");
        assert_eq!(round_trip(DataType::Fp32, "[0.25,3]"), "0.25,3.0");
        assert_eq!(round_trip(DataType::Fp64, "[1e300]"), "1e+300");
        assert_eq!(
            round_trip(DataType::Bytes, r#"["a","\u00e9"]"#),
            r#""a","é""#
        );
    }

    #[test]
    fn values_a_type_cannot_hold_are_named_with_their_path() {
        let mut out = Vec::new();
        let value: Value = serde_json::from_str("[[1, 2.5]]").unwrap();
        let err = push_json_tree(DataType::Int32, &value, "inputs[0].data", &mut out).unwrap_err();
        assert_eq!(err, "inputs[0].data[0][1]: 2.5 is not a INT32 value (an integer in -2147483648..=2147483647)");
        assert!(push_number(DataType::Uint8, 256.0, &mut out).is_err());
        assert!(push_number(DataType::Fp32, 1e300, &mut out)
            .unwrap_err()
            .contains("FP32 range"));
        assert!(push_json(DataType::Bool, &Value::from(3), &mut out).is_err());
        assert!(push_json(DataType::Bytes, &Value::from(3), &mut out).is_err());
        assert!(push_json(DataType::Fp32, &Value::from("x"), &mut out).is_err());
    }
}
