//! API credentials and where they come from. The secret key and token are
//! wrapped so that no `Debug`, `Display` or log line can print them; only the
//! signer exposes them.

use super::Error;
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use url::Url;

/// A Tencent Cloud API key pair, with the session token of temporary credentials.
#[derive(Clone)]
pub struct Credentials {
    /// The public half, sent in every `Authorization` header; safe to log.
    pub secret_id: String,
    secret_key: SecretString,
    /// Sent as `X-TC-Token`; as sensitive as the key, so never printed either.
    token: Option<SecretString>,
}

impl Credentials {
    /// Builds credentials from a key pair and an optional session token.
    pub fn new(secret_id: impl Into<String>, secret_key: impl Into<String>, token: Option<String>) -> Self {
        Self {
            secret_id: secret_id.into(),
            secret_key: SecretString::from(secret_key.into()),
            token: token.filter(|t| !t.is_empty()).map(SecretString::from),
        }
    }

    /// The secret key, for the signer only.
    pub(crate) fn secret_key(&self) -> &str {
        self.secret_key.expose_secret()
    }

    /// The session token, for the `X-TC-Token` header only.
    pub(crate) fn token(&self) -> Option<&str> {
        self.token.as_ref().map(|t| t.expose_secret())
    }
}

/// Equal when the key, not only its printable part, is the same: a new key
/// in the same variable restarts the account that uses it.
impl PartialEq for Credentials {
    fn eq(&self, other: &Self) -> bool {
        self.secret_id == other.secret_id
            && self.secret_key.expose_secret() == other.secret_key.expose_secret()
            && self.token.as_ref().map(ExposeSecret::expose_secret)
                == other.token.as_ref().map(ExposeSecret::expose_secret)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("secret_id", &self.secret_id)
            .field("secret_key", &"***")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// How long start-up waits for the metadata service before concluding this
/// is not a CVM with a role.
const METADATA_PROBE: Duration = Duration::from_secs(3);

/// Where the API key is to come from, decided without I/O; the exporter
/// resolves it at start.
#[derive(Debug, Clone, PartialEq)]
pub enum CredentialSource {
    /// `TENCENTCLOUD_SECRET_ID`, `TENCENTCLOUD_SECRET_KEY` (and `TENCENTCLOUD_SESSION_TOKEN`).
    Environment(Credentials),
    /// Variables named in the accounts file.
    Variables {
        credentials: Credentials,
        /// Named in the log, so an operator knows which key an account uses.
        secret_id_variable: String,
    },
    /// `--api.secret-id-file` and `--api.secret-key-file`.
    Files { secret_id: PathBuf, secret_key: PathBuf },
    /// The INI profile if it exists, else the CVM instance role.
    Discover {
        profile: Option<PathBuf>,
        metadata_url: Url,
    },
    /// `--demo`: the built-in simulator's own key.
    Demo,
}

/// Why a source yields no key.
#[derive(Debug)]
pub enum Unavailable {
    /// Nothing configured, and no profile or instance role found.
    Missing,
    /// The configured source failed (a file unreadable, a profile malformed).
    Failed(Error),
}

impl CredentialSource {
    /// The provider of this source's key, checked to yield one; `demo` is the
    /// key of the demo's simulated API.
    pub async fn provider(self, timeout: Duration, demo: Option<Credentials>) -> Result<Provider, Unavailable> {
        let provider = match self {
            CredentialSource::Environment(credentials) => Provider::Fixed {
                credentials,
                source: "the environment (TENCENTCLOUD_SECRET_ID)".into(),
            },
            CredentialSource::Variables {
                credentials,
                secret_id_variable,
            } => Provider::Fixed {
                credentials,
                source: format!("the environment ({secret_id_variable})"),
            },
            CredentialSource::Files { secret_id, secret_key } => {
                let files = Files::new(secret_id, secret_key);
                files.current().map_err(Unavailable::Failed)?;
                Provider::Files(files)
            }
            CredentialSource::Discover { profile, metadata_url } => {
                let from_profile = match &profile {
                    Some(path) => from_profile(path, "default")
                        .map_err(Unavailable::Failed)?
                        .map(|c| (c, path.display().to_string())),
                    None => None,
                };
                match from_profile {
                    Some((credentials, path)) => Provider::Fixed {
                        credentials,
                        source: format!("the profile [default] of {path}"),
                    },
                    None => {
                        let role = InstanceRole::new(metadata_url.as_str());
                        let http = reqwest::Client::builder()
                            .timeout(timeout)
                            .build()
                            .map_err(|e| Unavailable::Failed(Error::Network(e.to_string())))?;
                        match tokio::time::timeout(METADATA_PROBE, role.current(&http)).await {
                            Ok(Ok(_)) => Provider::InstanceRole(role),
                            _ => return Err(Unavailable::Missing),
                        }
                    }
                }
            }
            CredentialSource::Demo => Provider::Fixed {
                credentials: demo.ok_or(Unavailable::Missing)?,
                source: "the demo".into(),
            },
        };
        Ok(provider)
    }
}

/// The CAM role a metadata service's listing names: its first line.
pub fn role_of(listing: &[u8]) -> Result<String, Error> {
    String::from_utf8_lossy(listing)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| Error::Credentials("no CAM role is bound to this instance".into()))
}

/// The temporary key in a metadata service's answer for a role, and when it expires.
pub fn role_credentials(body: &[u8]) -> Result<(Credentials, SystemTime), Error> {
    let answer: RoleCredentials = serde_json::from_slice(body)
        // The classification and position only: serde's message could quote a value.
        .map_err(|e| {
            Error::Credentials(format!(
                "metadata service: role credentials unreadable ({:?} at column {})",
                e.classify(),
                e.column()
            ))
        })?;
    let expires = UNIX_EPOCH + Duration::from_secs(answer.expired_time.max(0) as u64);
    Ok((
        Credentials::new(answer.tmp_secret_id, answer.tmp_secret_key, Some(answer.token)),
        expires,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_secret_key_or_token() {
        let credentials = Credentials::new("AKIDpublic", "very-secret-key", Some("session-token".into()));
        let printed = format!("{credentials:?} {credentials:#?}");
        assert!(printed.contains("AKIDpublic"));
        assert!(!printed.contains("very-secret-key"));
        assert!(!printed.contains("session-token"));
    }
}

/// Where the API key comes from, in the order Tencent's SDKs look: the
/// environment, files (`--api.secret-id-file`, `--api.secret-key-file`), the
/// INI profile `~/.tencentcloud/credentials`, and a CVM instance role.
pub enum Provider {
    /// A key that does not change: from the environment, the profile or the demo.
    Fixed { credentials: Credentials, source: String },
    /// A key in two files, read again whenever either changes (Kubernetes
    /// updates a mounted Secret by swapping the files).
    Files(Files),
    /// The temporary key of the CVM instance's CAM role, from the metadata
    /// service, renewed five minutes before it expires.
    InstanceRole(InstanceRole),
}

/// Renew role credentials this long before they expire.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

impl Provider {
    /// Says where the key comes from, without any part of it.
    pub fn describe(&self) -> String {
        match self {
            Provider::Fixed { source, .. } => source.clone(),
            Provider::Files(files) => format!("files {} and {}", files.secret_id.display(), files.secret_key.display()),
            Provider::InstanceRole(role) => format!("the CVM instance role, from {}", role.base_url),
        }
    }

    /// The key to sign the next call with.
    pub async fn current(&self, http: &reqwest::Client) -> Result<Credentials, Error> {
        match self {
            Provider::Fixed { credentials, .. } => Ok(credentials.clone()),
            Provider::Files(files) => files.current(),
            Provider::InstanceRole(role) => role.current(http).await,
        }
    }
}

/// The key pair kept in two files.
pub struct Files {
    pub secret_id: PathBuf,
    pub secret_key: PathBuf,
    last: Mutex<Option<(SystemTime, SystemTime, Credentials)>>,
}

impl Files {
    pub fn new(secret_id: PathBuf, secret_key: PathBuf) -> Self {
        Self {
            secret_id,
            secret_key,
            last: Mutex::new(None),
        }
    }

    fn modified(path: &Path) -> Result<SystemTime, Error> {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .map_err(|e| Error::Credentials(format!("cannot read {}: {e}", path.display())))
    }

    fn read(path: &Path) -> Result<String, Error> {
        let text = crate::local_file::read_to_string(path, crate::local_file::SETTINGS)
            .map_err(|e| Error::Credentials(format!("cannot read {}: {e}", path.display())))?;
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::Credentials(format!("{} is empty", path.display())));
        }
        Ok(text.to_owned())
    }

    /// The key, read again if either file changed since the last read.
    pub fn current(&self) -> Result<Credentials, Error> {
        let (id_time, key_time) = (Self::modified(&self.secret_id)?, Self::modified(&self.secret_key)?);
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((i, k, credentials)) = last.as_ref()
            && (*i, *k) == (id_time, key_time)
        {
            return Ok(credentials.clone());
        }
        let credentials = Credentials::new(Self::read(&self.secret_id)?, Self::read(&self.secret_key)?, None);
        if last.is_some() {
            tracing::info!(secret_id = %credentials.secret_id, "credential files changed; using the new key");
        }
        *last = Some((id_time, key_time, credentials.clone()));
        Ok(credentials)
    }
}

/// Reads `[profile]` of a Tencent Cloud INI credentials file (`secret_id`,
/// `secret_key`, optional `token`). `Ok(None)` when the file does not exist.
pub fn from_profile(path: &Path, profile: &str) -> Result<Option<Credentials>, Error> {
    let text = match crate::local_file::read_to_string(path, crate::local_file::SETTINGS) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Credentials(format!("cannot read {}: {e}", path.display()))),
    };
    let ini = ini::Ini::load_from_str(&text)
        .map_err(|e| Error::Credentials(format!("{} is not an INI file: {e}", path.display())))?;
    let section = ini
        .section(Some(profile))
        .ok_or_else(|| Error::Credentials(format!("{} has no [{profile}] section", path.display())))?;
    match (section.get("secret_id"), section.get("secret_key")) {
        (Some(id), Some(key)) if !id.trim().is_empty() && !key.trim().is_empty() => Ok(Some(Credentials::new(
            id.trim(),
            key.trim(),
            section.get("token").map(|t| t.trim().to_owned()),
        ))),
        _ => Err(Error::Credentials(format!(
            "[{profile}] of {} lacks secret_id or secret_key",
            path.display()
        ))),
    }
}

/// Temporary credentials of the instance's CAM role.
pub struct InstanceRole {
    /// The metadata service, e.g. `http://metadata.tencentyun.com/latest`.
    pub base_url: String,
    cached: tokio::sync::Mutex<Option<(Credentials, SystemTime)>>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoleCredentials {
    tmp_secret_id: String,
    tmp_secret_key: String,
    token: String,
    expired_time: i64,
}

impl InstanceRole {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            cached: tokio::sync::Mutex::new(None),
        }
    }

    async fn get(http: &reqwest::Client, url: &str) -> Result<reqwest::Response, Error> {
        let response = http
            .get(url)
            .send()
            .await
            .map_err(|e| Error::Credentials(format!("metadata service: {}", e.without_url())))?;
        if !response.status().is_success() {
            return Err(Error::Credentials(format!(
                "metadata service answered {} for {url}",
                response.status()
            )));
        }
        Ok(response)
    }

    /// The body of a metadata answer, within [`super::bounded::MAX_METADATA`].
    async fn read(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, Error> {
        let response = Self::get(http, url).await?;
        let cut_short = |e: reqwest::Error| Error::Credentials(format!("metadata service: {}", e.without_url()));
        super::bounded::read(response, super::bounded::MAX_METADATA, cut_short)
            .await
            .map_err(|e| match e {
                Error::TooLarge { limit } => Error::Credentials(format!("metadata service: answer over {limit} bytes")),
                other => other,
            })
    }

    async fn fetch(&self, http: &reqwest::Client) -> Result<(Credentials, SystemTime), Error> {
        let base = format!("{}/meta-data/cam/security-credentials/", self.base_url);
        let role = role_of(&Self::read(http, &base).await?)?;
        let (credentials, expires) = role_credentials(&Self::read(http, &format!("{base}{role}")).await?)?;
        tracing::info!(role, secret_id = %credentials.secret_id, "obtained temporary credentials of the instance role");
        Ok((credentials, expires))
    }

    /// The role's key, renewed when it expires within five minutes.
    pub async fn current(&self, http: &reqwest::Client) -> Result<Credentials, Error> {
        let mut cached = self.cached.lock().await;
        if let Some((credentials, expires)) = cached.as_ref()
            && expires.duration_since(SystemTime::now()).unwrap_or_default() > RENEW_BEFORE
        {
            return Ok(credentials.clone());
        }
        match self.fetch(http).await {
            Ok((credentials, expires)) => {
                *cached = Some((credentials.clone(), expires));
                Ok(credentials)
            }
            // A blip of the metadata service must not stop a key that is still valid.
            Err(error) => match cached.as_ref() {
                Some((credentials, expires)) if *expires > SystemTime::now() => {
                    tracing::warn!(%error, "cannot renew the instance role's credentials; using the current ones");
                    Ok(credentials.clone())
                }
                _ => Err(error),
            },
        }
    }
}

#[cfg(test)]
mod provider_tests {
    use super::*;

    #[test]
    fn files_are_read_again_when_they_change() {
        let dir = tempfile::tempdir().unwrap();
        let (id, key) = (dir.path().join("id"), dir.path().join("key"));
        std::fs::write(&id, "AKIDfirst\n").unwrap();
        std::fs::write(&key, "first-key\n").unwrap();
        let files = Files::new(id.clone(), key.clone());
        let first = files.current().unwrap();
        assert_eq!(
            (first.secret_id.as_str(), first.secret_key()),
            ("AKIDfirst", "first-key")
        );
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&id, "AKIDsecond").unwrap();
        std::fs::write(&key, "second-key").unwrap();
        let second = files.current().unwrap();
        assert_eq!(
            (second.secret_id.as_str(), second.secret_key()),
            ("AKIDsecond", "second-key")
        );
        std::fs::remove_file(&key).unwrap();
        let error = files.current().unwrap_err().to_string();
        assert!(
            error.contains("cannot read") && !error.contains("second-key"),
            "{error}"
        );
    }

    #[test]
    fn profiles_are_read_from_the_ini_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        assert!(
            from_profile(&path, "default").unwrap().is_none(),
            "no file, no credentials"
        );
        std::fs::write(
            &path,
            "[default]\nsecret_id = AKIDini\nsecret_key = ini-key\n\n[other]\nsecret_id = x\n",
        )
        .unwrap();
        let credentials = from_profile(&path, "default").unwrap().unwrap();
        assert_eq!(
            (credentials.secret_id.as_str(), credentials.secret_key()),
            ("AKIDini", "ini-key")
        );
        let error = from_profile(&path, "other").unwrap_err().to_string();
        assert!(error.contains("lacks secret_id or secret_key"), "{error}");
    }
}
