//! What a job's meta says of batches, and where their records are kept: the few words
//! dispatch, the worker and the inspect calls share, below everything else of batches
//! (see [`crate::batch`]).

use serde::{Deserialize, Serialize};

/// The entry kind batch records are kept under.
pub(crate) const KIND: &str = "batches";

/// What a job's meta says of batches: the batch it belongs to, or the callback it is.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) batch: Option<Member>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) callback: Option<CallbackOf>,
}

/// A job's place in its batch.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) index: u64,
}

/// A callback job's batch, and which callback it is.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct CallbackOf {
    pub(crate) batch: String,
    pub(crate) kind: String,
}

/// What a stored job's meta says of batches.
#[derive(Debug, Default)]
pub(crate) struct BatchMeta {
    pub(crate) member: Option<Member>,
    pub(crate) callback: Option<CallbackOf>,
}

impl BatchMeta {
    /// Reads a job's meta text; unreadable meta is the chain reader's to report.
    pub(crate) fn read(meta: Option<&str>) -> BatchMeta {
        let meta: Meta = meta
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default();
        BatchMeta {
            member: meta.batch,
            callback: meta.callback,
        }
    }
}

/// The meta text of job `index` of batch `id` (an id is a UUID: nothing to escape), as
/// [`Meta`] reads it; written by hand, since a batch writes one per job.
pub(crate) fn member_meta(id: &str, index: u64) -> String {
    format!(r#"{{"batch":{{"id":"{id}","index":{index}}}}}"#)
}
