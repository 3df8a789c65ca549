//! The messages between a [`WorkerEngine`](super::WorkerEngine) and the
//! [`EngineHost`](super::EngineHost) on the other side of a worker or a thread: bytes, so that
//! the same encoding crosses a Web Worker's `postMessage` (a transferred `Uint8Array`) and a
//! native channel, and the native tests exercise exactly what the page sends.
//!
//! A message is `[u32 LE: header length][header: JSON][payload]`. The data message's payload
//! is every split's features as little-endian f32, then the labels; a load's and a weights
//! reply's is the network's raw bytes (`model::encoding::raw_network`: a copy, where its
//! base64 in the JSON took ~3 ms natively and several times that in wasm, on the thread that
//! draws, each time a run started or finished). Masks travel bit-packed in the header. Everything
//! round-trips bit for bit.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::data::{DataShape, DataSplits, Dataset};
use crate::model::encoding::raw_network;
use crate::model::{Mask, Network};
use crate::train::{EngineError, Job, JobResult, TrainConfig};

/// What the engine's side asks of the host. Every request carries an id; the host answers
/// each with a [`Reply`] of the same id, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// The data the host's engine trains on (its arrays follow in the payload).
    Data(DataHeader),
    Load {
        /// In the payload, not the header.
        #[serde(skip_serializing, default = "in_the_payload")]
        net: Network,
        mask: Mask,
        cfg: TrainConfig,
    },
    Job(Job),
    /// Fault drill: the host panics, as a bug in it would (tests, the page's drill).
    Crash,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    /// Data or a load installed.
    Ready,
    Done(JobResult),
    Failed(EngineError),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataHeader {
    pub name: String,
    pub shape: DataShape,
    pub n_classes: usize,
    pub positive_class: Option<u8>,
    /// Rows of the train, validation and test splits.
    pub rows: [usize; 3],
    pub features: usize,
}

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    id: u64,
    body: T,
}

/// Why bytes did not read as a message (a bug or a mismatched build, never user input).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProtocolError {
    #[error("worker message: {0}")]
    Malformed(String),
}

fn frame(header: &impl Serialize, payload: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(header).expect("messages serialize");
    let mut bytes = Vec::with_capacity(4 + json.len() + payload.len());
    bytes.extend_from_slice(&(json.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&json);
    bytes.extend_from_slice(payload);
    bytes
}

fn unframe<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<(T, &[u8]), ProtocolError> {
    let malformed = |why: String| ProtocolError::Malformed(why);
    let len = bytes
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or_else(|| malformed("shorter than its length".into()))?;
    let json = bytes
        .get(4..4 + len)
        .ok_or_else(|| malformed("shorter than its header".into()))?;
    let header = serde_json::from_slice(json).map_err(|e| malformed(e.to_string()))?;
    Ok((header, &bytes[4 + len..]))
}

/// The network a header stands in for until its payload is read.
fn in_the_payload() -> Network {
    Network {
        spec: crate::model::NetSpec::mlp(0, &[], 0),
        layers: Vec::new(),
    }
}

fn network_payload(payload: &[u8]) -> Result<Network, ProtocolError> {
    raw_network::from_bytes(payload).map_err(|e| ProtocolError::Malformed(e.to_string()))
}

pub fn encode_request(id: u64, request: &Request) -> Vec<u8> {
    let payload = match request {
        Request::Load { net, .. } => raw_network::to_bytes(net),
        _ => Vec::new(),
    };
    frame(&Envelope { id, body: request }, &payload)
}

/// The data message: the splits' arrays after the header.
pub fn encode_data(id: u64, data: &DataSplits) -> Vec<u8> {
    let header = DataHeader {
        name: data.name.clone(),
        shape: data.shape.clone(),
        n_classes: data.n_classes,
        positive_class: data.positive_class,
        rows: [data.train.len(), data.val.len(), data.test.len()],
        features: data.input_dim(),
    };
    let splits = [&data.train, &data.val, &data.test];
    let mut payload = Vec::new();
    for split in splits {
        // LeNet's digits are 31 MB of features, encoded on the thread that draws when a run
        // starts: one copy of the bytes where the layout allows (wasm and x86 are little-endian).
        match split.features.as_slice() {
            Some(values) if cfg!(target_endian = "little") => {
                payload.extend_from_slice(bytemuck::cast_slice(values))
            }
            _ => payload.extend(split.features.iter().flat_map(|x| x.to_le_bytes())),
        }
    }
    for split in splits {
        payload.extend_from_slice(&split.labels);
    }
    frame(
        &Envelope {
            id,
            body: Request::Data(header),
        },
        &payload,
    )
}

/// A request and, for the data message, the splits it carries.
pub fn decode_request(bytes: &[u8]) -> Result<(u64, Request, Option<DataSplits>), ProtocolError> {
    let (mut envelope, payload): (Envelope<Request>, _) = unframe(bytes)?;
    let data = match &mut envelope.body {
        Request::Data(header) => Some(read_splits(header, payload)?),
        Request::Load { net, .. } => {
            *net = network_payload(payload)?;
            None
        }
        _ => None,
    };
    Ok((envelope.id, envelope.body, data))
}

fn read_splits(header: &DataHeader, payload: &[u8]) -> Result<DataSplits, ProtocolError> {
    let cols = header.features;
    let total_rows: usize = header.rows.iter().sum();
    let feature_bytes = total_rows * cols * 4;
    if payload.len() != feature_bytes + total_rows {
        return Err(ProtocolError::Malformed(format!(
            "data payload of {} bytes, {total_rows} rows of {cols} features need {}",
            payload.len(),
            feature_bytes + total_rows
        )));
    }
    let (features, labels) = payload.split_at(feature_bytes);
    let mut splits = Vec::new();
    let (mut row, mut label) = (0, 0);
    for &rows in &header.rows {
        let bytes = &features[row * cols * 4..(row + rows) * cols * 4];
        let values: Vec<f32> = if cfg!(target_endian = "little") {
            let mut values = vec![0.0f32; rows * cols];
            bytemuck::cast_slice_mut::<f32, u8>(&mut values).copy_from_slice(bytes);
            values
        } else {
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let array = Array2::from_shape_vec((rows, cols), values)
            .map_err(|e| ProtocolError::Malformed(e.to_string()))?;
        splits.push(Dataset::new(array, labels[label..label + rows].to_vec()));
        row += rows;
        label += rows;
    }
    let [train, val, test] = <[Dataset; 3]>::try_from(splits).expect("three splits");
    Ok(DataSplits {
        name: header.name.clone(),
        shape: header.shape.clone(),
        n_classes: header.n_classes,
        positive_class: header.positive_class,
        train,
        val,
        test,
    })
}

pub fn encode_reply(id: u64, reply: &Reply) -> Vec<u8> {
    match reply {
        Reply::Done(JobResult::Weights(net)) => {
            let header = Reply::Done(JobResult::Weights(in_the_payload()));
            frame(&Envelope { id, body: header }, &raw_network::to_bytes(net))
        }
        _ => frame(&Envelope { id, body: reply }, &[]),
    }
}

pub fn decode_reply(bytes: &[u8]) -> Result<(u64, Reply), ProtocolError> {
    let (mut envelope, payload): (Envelope<Reply>, _) = unframe(bytes)?;
    if let Reply::Done(JobResult::Weights(net)) = &mut envelope.body {
        *net = network_payload(payload)?;
    }
    Ok((envelope.id, envelope.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_data() -> DataSplits {
        let config = (crate::experiment::presets::find("tiny").unwrap().config)();
        config.dataset.load(config.seed, None).unwrap()
    }

    #[test]
    fn data_crosses_bit_for_bit() {
        let data = tiny_data();
        let (id, request, splits) = decode_request(&encode_data(3, &data)).unwrap();
        assert_eq!(id, 3);
        assert!(matches!(request, Request::Data(_)));
        let splits = splits.unwrap();
        for (a, b) in [
            (&splits.train, &data.train),
            (&splits.val, &data.val),
            (&splits.test, &data.test),
        ] {
            assert_eq!(a, b);
        }
        assert_eq!(splits.shape, data.shape);
        assert_eq!(splits.n_classes, data.n_classes);
    }

    #[test]
    fn networks_cross_as_raw_payloads_bit_for_bit() {
        use crate::model::{Init, NetSpec};
        let spec = NetSpec::mlp(6, &[5], 3);
        let net = Network::init(&spec, Init::GlorotNormal, &mut crate::rng::rng(2, "net"));
        let mask = Mask::dense(&spec);
        let cfg = TrainConfig {
            optimizer: crate::train::Optimizer::Sgd {
                lr: 0.1,
                momentum: 0.0,
            },
            batch_size: 4,
            order_seed: 1,
        };
        let load = Request::Load {
            net: net.clone(),
            mask,
            cfg,
        };
        let bytes = encode_request(5, &load);
        let (id, back, _) = decode_request(&bytes).unwrap();
        assert_eq!((id, &back), (5, &load));
        // The weights are the payload, not base64 in the header.
        let header_len = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
        assert_eq!(
            &bytes[4 + header_len..],
            &crate::model::encoding::raw_network::to_bytes(&net)[..]
        );
        let reply = Reply::Done(JobResult::Weights(net));
        assert_eq!(
            decode_reply(&encode_reply(6, &reply)).unwrap(),
            (6, reply.clone())
        );
        // A weights reply cut short is refused, not read as other weights.
        let bytes = encode_reply(6, &reply);
        assert!(decode_reply(&bytes[..bytes.len() - 4]).is_err());
    }

    #[test]
    fn truncated_messages_are_refused() {
        let data = tiny_data();
        let bytes = encode_data(1, &data);
        for cut in [0, 3, 10, bytes.len() - 1] {
            assert!(decode_request(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_reply(b"\x02\0\0\0{]").is_err());
    }
}
