//! HTTP as every sink speaks it: one client with bounded waits, and answers
//! read to their end, with what breaks on the way turned into a retry.

use std::time::Duration;

use reqwest::header::HeaderMap;

use super::Verdict;

/// The HTTP client every sink (and `lcd doctor`) uses: bounded waits, lcd's
/// User-Agent, and no redirects followed: a batch and its token go only where
/// the config says (a 307 would post them again, elsewhere).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("lcd/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .expect("an HTTP client with default TLS")
}

/// An answer, read whole.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// When the answer is a redirect (from `url`), what to tell the user:
    /// where it points, and that it was not followed.
    pub fn redirect(&self, url: &str) -> Option<String> {
        (300..400).contains(&self.status).then(|| {
            let target = self.header("location").unwrap_or("nowhere");
            format!(
                "{url} redirects to {target} (HTTP {}); lcd does not follow redirects: configure the URL that answers",
                self.status
            )
        })
    }
}

/// Sends `request` (to `url`, named in messages) and reads the answer; a
/// connection that fails or an answer that breaks off is worth a retry.
pub async fn exchange(request: reqwest::RequestBuilder, url: &str) -> Result<Answer, Verdict> {
    let retry = |what: String| Verdict::Retry { after: None, reason: what };
    let response = request.send().await.map_err(|e| retry(format!("cannot reach {url}: {}", without_url(&e))))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text =
        response.text().await.map_err(|e| retry(format!("the answer from {url} broke off: {}", without_url(&e))))?;
    Ok(Answer { status, headers, text })
}

/// reqwest's message without the URL it repeats (we name it ourselves).
fn without_url(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut deepest = e.to_string();
    while let Some(s) = source {
        deepest = s.to_string();
        source = s.source();
    }
    deepest
}
