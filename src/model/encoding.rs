//! Compact serde encodings for parameters: little-endian f32 bytes and bit-packed masks, both
//! base64, so that a record with weights stays a fraction of the size of a JSON float list and
//! round-trips bit for bit.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

/// Base64 of the values' little-endian bytes. Contiguous values on a little-endian machine
/// (wasm, x86, ARM) are encoded straight from memory: a byte-by-byte copy first cost a LeNet
/// network ~6 ms of the thread that draws each time a run started or finished in a worker.
fn f32s_to_b64<D: ndarray::Dimension>(values: &ndarray::Array<f32, D>) -> String {
    match values.as_slice() {
        Some(values) if cfg!(target_endian = "little") => {
            STANDARD.encode(bytemuck::cast_slice::<f32, u8>(values))
        }
        _ => {
            let mut bytes = Vec::with_capacity(4 * values.len());
            for v in values {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
            STANDARD.encode(bytes)
        }
    }
}

fn b64_to_f32s<E: serde::de::Error>(text: &str) -> Result<Vec<f32>, E> {
    let bytes = STANDARD.decode(text).map_err(E::custom)?;
    if bytes.len() % 4 != 0 {
        return Err(E::custom("f32 data is not a multiple of 4 bytes"));
    }
    if cfg!(target_endian = "little") {
        let mut values = vec![0.0f32; bytes.len() / 4];
        bytemuck::cast_slice_mut::<f32, u8>(&mut values).copy_from_slice(&bytes);
        return Ok(values);
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
            data: f32s_to_b64(a),
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
        f32s_to_b64(a).serialize(s)
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

/// A network's weights as raw bytes, for the page's saved state (IndexedDB stores bytes as
/// they are; a LeNet run is 1 MB here against 1.4 MB of base64 inside JSON, and costs the
/// frame that saves it a copy instead of ~20 ms of encoding). Layout: `LLW1`, the spec's
/// JSON length (u32 LE) and the spec's JSON, then per parametric layer its weight
/// (`fan_in × fan_out`, row-major) and bias (`fan_out`) as f32 LE.
pub mod raw_network {
    use super::super::{Layer, NetSpec, Network};
    use ndarray::{Array1, Array2};

    const MAGIC: &[u8; 4] = b"LLW1";

    /// Why bytes are not a network's weights.
    #[derive(Debug, Clone, PartialEq, thiserror::Error)]
    pub enum RawWeightsError {
        #[error("the weights do not start with LLW1 (another format, or torn)")]
        NotWeights,
        #[error("the weights' network description is unreadable: {0}")]
        Spec(String),
        #[error("the weights hold {found} bytes where their network needs {needed}")]
        Length { found: usize, needed: usize },
    }

    pub fn to_bytes(net: &Network) -> Vec<u8> {
        let spec = serde_json::to_vec(&net.spec).expect("a spec serialises");
        let values: usize = net
            .layers
            .iter()
            .map(|l| l.weight.len() + l.bias.len())
            .sum();
        let mut bytes = Vec::with_capacity(8 + spec.len() + 4 * values);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(spec.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&spec);
        for layer in &net.layers {
            match (layer.weight.as_slice(), layer.bias.as_slice()) {
                // Little-endian memory (wasm, x86, ARM) is the layout already: one copy each.
                (Some(weight), Some(bias)) if cfg!(target_endian = "little") => {
                    bytes.extend_from_slice(bytemuck::cast_slice(weight));
                    bytes.extend_from_slice(bytemuck::cast_slice(bias));
                }
                _ => {
                    for &v in layer.weight.iter().chain(layer.bias.iter()) {
                        bytes.extend_from_slice(&v.to_le_bytes());
                    }
                }
            }
        }
        bytes
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Network, RawWeightsError> {
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or(RawWeightsError::NotWeights)?;
        let (len, rest) = rest
            .split_at_checked(4)
            .ok_or(RawWeightsError::NotWeights)?;
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        let (spec, mut data) = rest
            .split_at_checked(len)
            .ok_or(RawWeightsError::Spec("cut short".into()))?;
        let spec: NetSpec =
            serde_json::from_slice(spec).map_err(|e| RawWeightsError::Spec(e.to_string()))?;
        let shapes: Vec<(usize, usize)> = spec.param_layers().iter().map(|p| p.shape).collect();
        // Sizes checked before anything is allocated: a spec does not make us reserve more
        // than the bytes there are.
        let needed = shapes
            .iter()
            .try_fold(0usize, |sum, &(fan_in, fan_out)| {
                fan_in
                    .checked_mul(fan_out)?
                    .checked_add(fan_out)?
                    .checked_mul(4)?
                    .checked_add(sum)
            })
            .unwrap_or(usize::MAX);
        if needed != data.len() {
            return Err(RawWeightsError::Length {
                found: data.len(),
                needed,
            });
        }
        let mut take = |n: usize| {
            let (head, tail) = data.split_at(4 * n);
            data = tail;
            head.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect::<Vec<f32>>()
        };
        let layers = shapes
            .iter()
            .map(|&(fan_in, fan_out)| Layer {
                weight: Array2::from_shape_vec((fan_in, fan_out), take(fan_in * fan_out))
                    .expect("sized above"),
                bias: Array1::from(take(fan_out)),
            })
            .collect();
        Ok(Network { spec, layers })
    }
}

#[cfg(test)]
mod tests {
    use super::raw_network::{RawWeightsError, from_bytes, to_bytes};
    use crate::model::{Init, NetSpec, Network, Shape, parse_layers};
    use ndarray::ShapeBuilder as _;

    fn conv_net() -> Network {
        let spec = NetSpec::new(
            Shape {
                height: 8,
                width: 8,
                channels: 1,
            },
            &parse_layers("conv3k3s2p1,pool2,5").unwrap(),
            4,
        );
        Network::init(&spec, Init::KaimingNormal, &mut crate::rng::rng(7, "init"))
    }

    #[test]
    fn raw_weights_round_trip_bit_for_bit() {
        let mlp = Network::init(
            &NetSpec::mlp(6, &[5, 3], 2),
            Init::GlorotNormal,
            &mut crate::rng::rng(1, "init"),
        );
        for mut net in [mlp, conv_net()] {
            net.layers[0].bias[0] = -0.0;
            net.layers[0].weight[(0, 0)] = f32::MIN_POSITIVE / 4.0; // subnormal
            let back = from_bytes(&to_bytes(&net)).unwrap();
            assert_eq!(back, net);
            assert_eq!(back.layers[0].bias[0].to_bits(), (-0.0f32).to_bits());
            // Weights in column-major memory are written in the same (row-major) order.
            let mut columns = net.clone();
            let w = &net.layers[0].weight;
            let mut fortran = ndarray::Array2::zeros(w.dim().f());
            fortran.assign(w);
            assert!(fortran.as_slice().is_none());
            columns.layers[0].weight = fortran;
            assert_eq!(to_bytes(&columns), to_bytes(&net));
        }
    }

    #[test]
    fn torn_or_foreign_bytes_are_refused_with_the_reason() {
        let bytes = to_bytes(&conv_net());
        assert_eq!(from_bytes(b"{\"json\"}"), Err(RawWeightsError::NotWeights));
        assert_eq!(from_bytes(b"LLW1\x01"), Err(RawWeightsError::NotWeights));
        let torn = from_bytes(&bytes[..bytes.len() - 3]).unwrap_err();
        assert!(
            matches!(torn, RawWeightsError::Length { found, needed } if needed == found + 3),
            "{torn}"
        );
        assert!(matches!(
            from_bytes(&bytes[..12]),
            Err(RawWeightsError::Spec(_))
        ));
        // A description asking for more than usize can count: refused, nothing allocated.
        let huge = serde_json::to_vec(&NetSpec::mlp(usize::MAX / 2, &[4], 2)).unwrap();
        let mut lying = b"LLW1".to_vec();
        lying.extend_from_slice(&(huge.len() as u32).to_le_bytes());
        lying.extend_from_slice(&huge);
        lying.extend_from_slice(&[0; 16]);
        assert!(matches!(
            from_bytes(&lying),
            Err(RawWeightsError::Length { found: 16, .. })
        ));
    }
}
