//! The client's profiles file: which server each named profile talks to, as whom (an operator
//! or an agent) and with which token. `~/.config/custos/profiles.toml` (or
//! `$XDG_CONFIG_HOME/custos/profiles.toml`, or the file `CUSTOSCLI_PROFILES` names), mode 0600:
//! it holds bearer tokens, so a file anyone else can read, or one with a key this version does
//! not know, is refused with the reason instead of being half-used.
//!
//! ```toml
//! current = "ops"
//! [profiles.ops]
//! url = "http://127.0.0.1:8080"
//! kind = "operator"
//! token = "cop_…"
//! ```
use anyhow::{bail, Context as _, Result};
use custos_core::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// Environment variable naming the profiles file (instead of the default path).
pub const PROFILES_ENV: &str = "CUSTOSCLI_PROFILES";

/// Who a profile's token authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An operator bearer token (`custos admin token`).
    Operator,
    /// An agent session token or API key.
    Agent,
}

/// One profile.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The server's base URL.
    pub url: String,
    /// Operator or agent.
    pub kind: Kind,
    /// The bearer token.
    pub token: SecretString,
    /// The agent's id (agent profiles).
    #[serde(default)]
    pub agent_id: Option<String>,
    /// The agent's login email (agent profiles).
    #[serde(default)]
    pub email: Option<String>,
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profiles {
    /// The profile used when none is named.
    #[serde(default)]
    pub current: Option<String>,
    /// Profiles by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// The file's path: `CUSTOSCLI_PROFILES`, else `$XDG_CONFIG_HOME/custos/profiles.toml`, else
/// `$HOME/.config/custos/profiles.toml`.
pub fn path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(PROFILES_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => match std::env::var_os("HOME").filter(|p| !p.is_empty()) {
            Some(h) => PathBuf::from(h).join(".config"),
            None => bail!("cannot find the profiles file: neither HOME nor {PROFILES_ENV} is set"),
        },
    };
    Ok(base.join("custos").join("profiles.toml"))
}

impl Profiles {
    /// Reads the file at `p`; a missing file is an empty set of profiles. Refuses a file that
    /// group or others may read or write, and one that is not valid (naming the key and line).
    pub fn load(p: &Path) -> Result<Self> {
        let meta = match std::fs::metadata(p) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", p.display())),
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            bail!(
                "the profiles file {} has mode {mode:04o}: it holds bearer tokens and must be \
                 readable by its owner only (run `chmod 600 {}`)",
                p.display(),
                p.display()
            );
        }
        let text =
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
        toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("the profiles file {} is not valid: {e}", p.display()))
    }

    /// The profile to use: `name`, else the file's `current`; `None` when neither is set.
    pub fn pick(&self, name: Option<&str>, file: &Path) -> Result<Option<&Profile>> {
        let Some(name) = name.or(self.current.as_deref()) else {
            return Ok(None);
        };
        match self.profiles.get(name) {
            Some(p) => Ok(Some(p)),
            None => bail!(
                "no profile `{name}` in {} (profiles: {})",
                file.display(),
                if self.profiles.is_empty() {
                    "none; `custos login` writes one".to_string()
                } else {
                    self.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
                }
            ),
        }
    }

    /// Adds or replaces profile `name`, makes it current, and writes the file (mode 0600, via a
    /// temporary file renamed over it).
    pub fn save_with(mut self, p: &Path, name: &str, profile: Profile) -> Result<()> {
        self.profiles.insert(name.to_owned(), profile);
        self.current = Some(name.to_owned());
        let text = self.to_toml()?;
        let dir = p.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let tmp = p.with_extension("toml.tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, p).with_context(|| format!("cannot write {}", p.display()))?;
        Ok(())
    }

    fn to_toml(&self) -> Result<String> {
        #[derive(Serialize)]
        struct FileOut<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            current: Option<&'a str>,
            profiles: BTreeMap<&'a str, ProfileOut<'a>>,
        }
        #[derive(Serialize)]
        struct ProfileOut<'a> {
            url: &'a str,
            kind: Kind,
            token: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            agent_id: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            email: Option<&'a str>,
        }
        let out = FileOut {
            current: self.current.as_deref(),
            profiles: self
                .profiles
                .iter()
                .map(|(k, p)| {
                    (
                        k.as_str(),
                        ProfileOut {
                            url: &p.url,
                            kind: p.kind,
                            token: p.token.expose(),
                            agent_id: p.agent_id.as_deref(),
                            email: p.email.as_deref(),
                        },
                    )
                })
                .collect(),
        };
        Ok(toml::to_string(&out)?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_saved_profile_reads_back_owner_only_and_its_token_stays_out_of_debug() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("profiles.toml");
        let prof = Profile {
            url: "http://127.0.0.1:1".into(),
            kind: Kind::Agent,
            token: SecretString::new("tok-secret-123".into()),
            agent_id: Some("a".into()),
            email: None,
        };
        Profiles::default().save_with(&p, "me", prof).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = Profiles::load(&p).unwrap();
        let got = back.pick(None, &p).unwrap().unwrap();
        assert_eq!(got.token.expose(), "tok-secret-123");
        assert_eq!(got.kind, Kind::Agent);
        assert!(!format!("{back:?}").contains("tok-secret-123"));
        let err = back.pick(Some("other"), &p).unwrap_err().to_string();
        assert!(
            err.contains("no profile `other`") && err.contains("me"),
            "{err}"
        );
    }

    #[test]
    fn loose_permissions_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("profiles.toml");
        std::fs::write(
            &p,
            "[profiles.a]\nurl = \"http://x\"\nkind = \"agent\"\ntoken = \"t\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Profiles::load(&p).unwrap_err().to_string();
        assert!(
            err.contains("mode 0644") && err.contains("chmod 600"),
            "{err}"
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(Profiles::load(&p).is_ok());
        std::fs::write(
            &p,
            "[profiles.a]\nurl = \"http://x\"\nkind = \"agent\"\ntoken = \"t\"\npassword = \"x\"\n",
        )
        .unwrap();
        let err = Profiles::load(&p).unwrap_err().to_string();
        assert!(err.contains("unknown field `password`"), "{err}");
    }
}
