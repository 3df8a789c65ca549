//! Compact serde encodings for parameters: little-endian f32 bytes and bit-packed masks, both
//! base64, so that a record with weights stays a fraction of the size of a JSON float list and
//! round-trips bit for bit.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

fn f32s_to_b64(values: impl Iterator<Item = f32>) -> String {
    let bytes: Vec<u8> = values.flat_map(f32::to_le_bytes).collect();
    STANDARD.encode(bytes)
}

fn b64_to_f32s<E: serde::de::Error>(text: &str) -> Result<Vec<f32>, E> {
    let bytes = STANDARD.decode(text).map_err(E::custom)?;
    if bytes.len() % 4 != 0 {
        return Err(E::custom("f32 data is not a multiple of 4 bytes"));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

#[derive(Serialize, Deserialize)]
struct Packed {
    rows: usize,
    cols: usize,
    data: String,
}

pub mod array2_f32 {
    use super::*;

    pub fn serialize<S: Serializer>(a: &Array2<f32>, s: S) -> Result<S::Ok, S::Error> {
        let (rows, cols) = a.dim();
        Packed {
            rows,
            cols,
            data: f32s_to_b64(a.iter().copied()),
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Array2<f32>, D::Error> {
        let p = Packed::deserialize(d)?;
        let values = b64_to_f32s(&p.data)?;
        if p.rows.checked_mul(p.cols) != Some(values.len()) {
            return Err(D::Error::custom(format!(
                "matrix {}x{} does not match its {} values",
                p.rows,
                p.cols,
                values.len()
            )));
        }
        Array2::from_shape_vec((p.rows, p.cols), values).map_err(D::Error::custom)
    }
}

pub mod array1_f32 {
    use super::*;

    pub fn serialize<S: Serializer>(a: &Array1<f32>, s: S) -> Result<S::Ok, S::Error> {
        f32s_to_b64(a.iter().copied()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Array1<f32>, D::Error> {
        let text = String::deserialize(d)?;
        Ok(Array1::from(b64_to_f32s::<D::Error>(&text)?))
    }
}

pub mod vec_array2_bool {
    use super::*;

    pub fn serialize<S: Serializer>(layers: &[Array2<bool>], s: S) -> Result<S::Ok, S::Error> {
        let packed: Vec<Packed> = layers
            .iter()
            .map(|a| {
                let (rows, cols) = a.dim();
                let mut bytes = vec![0u8; a.len().div_ceil(8)];
                for (i, _) in a.iter().enumerate().filter(|(_, k)| **k) {
                    bytes[i / 8] |= 1 << (i % 8);
                }
                Packed {
                    rows,
                    cols,
                    data: STANDARD.encode(bytes),
                }
            })
            .collect();
        packed.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Array2<bool>>, D::Error> {
        let packed = Vec::<Packed>::deserialize(d)?;
        packed
            .into_iter()
            .map(|p| {
                let bytes = STANDARD.decode(&p.data).map_err(D::Error::custom)?;
                let len = p
                    .rows
                    .checked_mul(p.cols)
                    .filter(|&n| n.div_ceil(8) == bytes.len())
                    .ok_or_else(|| D::Error::custom("mask size does not match its shape"))?;
                let bits = (0..len)
                    .map(|i| bytes[i / 8] & (1 << (i % 8)) != 0)
                    .collect();
                Array2::from_shape_vec((p.rows, p.cols), bits).map_err(D::Error::custom)
            })
            .collect()
    }
}
