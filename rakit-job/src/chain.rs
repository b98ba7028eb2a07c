//! Chains: jobs that run one after another. The jobs still to come ride in the meta of
//! the running one; its ack stores the next in the same atomic step
//! ([`Finish::Ack`](rakit_job_core::Finish)), so a worker killed between the two neither
//! loses it nor stores it twice. A link that fails for good keeps the rest in its failed
//! record, and retrying it goes on with them.

use rakit_job_core::{JobId, MAX_PAYLOAD_BYTES, NewJob, now_ms};
use serde::{Deserialize, Serialize};

/// Where a running job stands in its chain, from [`JobContext::chain`](crate::JobContext::chain).
///
/// ```
/// let link = rakit_job::ChainPosition { index: 1, len: 3 };
/// assert!(!link.is_last());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainPosition {
    /// Its place, from 0 for the job dispatched first.
    pub index: usize,
    /// How many jobs the chain holds.
    pub len: usize,
}

impl ChainPosition {
    /// True for the chain's last job.
    pub fn is_last(&self) -> bool {
        self.index + 1 >= self.len
    }
}

/// A job still to come, as it will be stored.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Link {
    id: String,
    name: String,
    queue: String,
    payload: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    overlap_key: Option<String>,
}

/// The chain as kept in a job's meta text.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Chain {
    index: usize,
    len: usize,
    next: Vec<Link>,
}

/// A job's meta text: what the runtime keeps with it.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chain: Option<Chain>,
}

/// A job's chain as the runtime reads it back from the store.
#[derive(Debug, Default)]
pub(crate) struct ChainMeta(Option<Chain>);

impl ChainMeta {
    /// Reads a job's meta text; the error says why the chain cannot be followed.
    pub(crate) fn read(meta: Option<&str>) -> Result<ChainMeta, String> {
        let Some(text) = meta else {
            return Ok(ChainMeta(None));
        };
        let meta: Meta = serde_json::from_str(text).map_err(|e| {
            format!("the chain stored with this job cannot be read ({e}); dispatch the rest of the chain again")
        })?;
        Ok(ChainMeta(meta.chain))
    }

    /// Where the job stands in its chain, if it is in one.
    pub(crate) fn position(&self) -> Option<ChainPosition> {
        self.0.as_ref().map(|c| ChainPosition {
            index: c.index,
            len: c.len,
        })
    }

    /// The names of the jobs still to run after this one, in order.
    pub(crate) fn rest(&self) -> Vec<String> {
        self.0
            .iter()
            .flat_map(|c| c.next.iter().map(|l| l.name.clone()))
            .collect()
    }

    /// The next job of the chain, carrying the rest: what the ack stores.
    pub(crate) fn follow_up(&self) -> Result<Option<NewJob>, String> {
        let Some(chain) = &self.0 else {
            return Ok(None);
        };
        let Some((link, rest)) = chain.next.split_first() else {
            return Ok(None);
        };
        let now = now_ms();
        Ok(Some(NewJob {
            id: JobId::parse(&link.id).map_err(|e| e.to_string())?,
            name: link.name.clone(),
            queue: link.queue.clone(),
            payload: link.payload.clone(),
            available_at: now,
            created_at: now,
            overlap_key: link.overlap_key.clone(),
            unique_key: None,
            unique_for: None,
            meta: write(Chain {
                index: chain.index + 1,
                len: chain.len,
                next: rest.to_vec(),
            })?,
        }))
    }
}

/// Makes `first` the head of a chain that goes on with `next`, each already checked; the
/// error says when the chain is too large to keep with the job.
pub(crate) fn link(first: &mut NewJob, next: Vec<NewJob>) -> Result<(), String> {
    if next.is_empty() {
        return Ok(());
    }
    let chain = Chain {
        index: 0,
        len: next.len() + 1,
        next: next
            .into_iter()
            .map(|job| Link {
                id: job.id.to_string(),
                name: job.name,
                queue: job.queue,
                payload: job.payload,
                overlap_key: job.overlap_key,
            })
            .collect(),
    };
    first.meta = write(chain)?;
    Ok(())
}

fn write(chain: Chain) -> Result<Option<String>, String> {
    let text = serde_json::to_string(&Meta { chain: Some(chain) })
        .map_err(|e| format!("the chain cannot be written as JSON: {e}"))?;
    if text.len() > MAX_PAYLOAD_BYTES {
        return Err(format!(
            "the jobs after the first of this chain take {} bytes, over the {MAX_PAYLOAD_BYTES}-byte limit; chain fewer or smaller jobs",
            text.len()
        ));
    }
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_ack_stores_the_next_link_carrying_the_rest() {
        let mut first = NewJob::now("a", "default", "{}");
        let b = NewJob::now("b", "high", r#"{"n":2}"#);
        let c = NewJob::now("c", "low", r#"{"n":3}"#);
        link(&mut first, vec![b.clone(), c.clone()]).unwrap();
        let head = ChainMeta::read(first.meta.as_deref()).unwrap();
        assert_eq!(head.position(), Some(ChainPosition { index: 0, len: 3 }));
        assert_eq!(head.rest(), ["b", "c"]);

        let second = head.follow_up().unwrap().unwrap();
        assert_eq!((second.id, second.queue.as_str()), (b.id, "high"));
        let middle = ChainMeta::read(second.meta.as_deref()).unwrap();
        assert_eq!(middle.position(), Some(ChainPosition { index: 1, len: 3 }));
        let third = middle.follow_up().unwrap().unwrap();
        assert_eq!((third.id, third.payload.as_str()), (c.id, r#"{"n":3}"#));
        let last = ChainMeta::read(third.meta.as_deref()).unwrap();
        assert!(last.position().unwrap().is_last());
        assert_eq!(last.follow_up().unwrap(), None);
    }

    #[test]
    fn a_job_without_a_chain_has_no_follow_up_and_bad_meta_is_an_error() {
        let none = ChainMeta::read(None).unwrap();
        assert_eq!((none.position(), none.follow_up().unwrap()), (None, None));
        assert!(ChainMeta::read(Some("{not json")).is_err());
    }
}
