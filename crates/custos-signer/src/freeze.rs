//! The signer's own freeze list: agents an operator froze, and the kill switch that freezes
//! every agent at once. A signer asks it before anything else and signs nothing for a frozen
//! agent, whatever its caller says. Kept in one JSON file (`{"all": bool, "agents": [...]}`),
//! replaced atomically, so a restart keeps it; a file that cannot be read is an error, never an
//! empty list.
use crate::files::write_private;
use custos_core::{AgentId, FreezeState, FreezeTarget};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// Why the list could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("freeze list {path}: {reason}")]
pub struct FreezeError {
    path: String,
    reason: String,
}

/// The freeze list, in memory and (unless in-memory) on disk.
pub struct FreezeList {
    path: Option<PathBuf>,
    state: RwLock<FreezeState>,
}

impl FreezeList {
    /// Opens `path` (missing: nothing frozen).
    pub fn open(path: &Path) -> Result<Self, FreezeError> {
        let err = |reason: String| FreezeError {
            path: path.display().to_string(),
            reason,
        };
        let state = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| err(e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => FreezeState::default(),
            Err(e) => return Err(err(e.to_string())),
        };
        Ok(Self {
            path: Some(path.to_path_buf()),
            state: RwLock::new(state),
        })
    }

    /// A list kept in memory only (tests, and signers without a data dir).
    pub fn in_memory() -> Self {
        Self {
            path: None,
            state: RwLock::new(FreezeState::default()),
        }
    }

    /// What is frozen.
    pub fn state(&self) -> FreezeState {
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Why `agent` may not sign now, if it may not.
    pub fn refusal(&self, agent: AgentId) -> Option<String> {
        self.state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .refusal(agent)
    }

    /// Freezes or unfreezes `target`, on disk before in memory: a crash leaves the old or the
    /// new list, and what is answered is what was written.
    pub fn set(&self, target: FreezeTarget, frozen: bool) -> Result<FreezeState, FreezeError> {
        let mut guard = self.state.write().unwrap_or_else(|e| e.into_inner());
        let mut next = guard.clone();
        match target {
            FreezeTarget::All => next.all = frozen,
            FreezeTarget::Agent(a) => {
                next.agents.retain(|x| *x != a);
                if frozen {
                    next.agents.push(a);
                    next.agents.sort_unstable();
                }
            }
        }
        if let Some(path) = &self.path {
            let bytes = serde_json::to_vec_pretty(&next).map_err(|e| FreezeError {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            write_private(path, &bytes).map_err(|e| FreezeError {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        *guard = next.clone();
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn freezes_survive_a_reopen_and_the_kill_switch_covers_every_agent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frozen.json");
        let (a, b) = (AgentId::new_random(), AgentId::new_random());
        {
            let l = FreezeList::open(&path).unwrap();
            assert!(l.refusal(a).is_none());
            l.set(FreezeTarget::Agent(a), true).unwrap();
            l.set(FreezeTarget::Agent(a), true).unwrap();
            assert_eq!(l.state().agents, vec![a]);
            assert!(l.refusal(a).unwrap().contains("frozen"));
            assert!(l.refusal(b).is_none());
        }
        let l = FreezeList::open(&path).unwrap();
        assert_eq!(l.state().agents, vec![a]);
        l.set(FreezeTarget::All, true).unwrap();
        assert!(l.refusal(b).unwrap().contains("kill switch"));
        let l = FreezeList::open(&path).unwrap();
        assert!(l.state().all);
        // Lifting the switch leaves the one-by-one freezes in place.
        l.set(FreezeTarget::All, false).unwrap();
        assert!(l.refusal(b).is_none());
        assert!(l.refusal(a).is_some());
        l.set(FreezeTarget::Agent(a), false).unwrap();
        assert_eq!(
            FreezeList::open(&path).unwrap().state(),
            FreezeState::default()
        );
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn an_unreadable_list_is_an_error_not_an_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frozen.json");
        std::fs::write(&path, b"{not json").unwrap();
        assert!(FreezeList::open(&path).is_err());
    }
}
