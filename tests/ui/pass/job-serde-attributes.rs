//! `#[serde(...)]` attributes pass through, and a key field is named as serde writes it.
use rakit_job::KeyRule;
use rakit_job::prelude::*;

fn default_view() -> String {
    "emails.welcome".to_string()
}

#[job(no_overlap = "user_id", unique = "type")]
#[serde(rename_all = "camelCase")]
pub struct SendEmail {
    pub to: String,
    pub user_id: u64,
    #[serde(default = "default_view")]
    pub view: String,
    #[serde(rename = "kind")]
    pub r#type: String,
    #[serde(skip)]
    pub cache: Option<String>,
}

impl Jobable for SendEmail {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        Ok(())
    }
}

fn main() {
    let job: SendEmail =
        serde_json::from_value(serde_json::json!({"to": "a@b.c", "userId": 7, "kind": "welcome"}))
            .unwrap();
    assert_eq!(job.view, "emails.welcome");
    assert_eq!(job.user_id, 7);
    assert!(job.cache.is_none());

    let json = serde_json::to_value(&job).unwrap();
    assert_eq!(json["userId"], 7);
    assert_eq!(json["kind"], "welcome");
    assert!(json.get("cache").is_none());

    // The runtime looks key fields up in the payload, so they carry serde's names.
    assert_eq!(SendEmail::OPTIONS.no_overlap, KeyRule::Field("userId"));
    assert_eq!(SendEmail::OPTIONS.unique, KeyRule::Field("kind"));
}
