//! The server's handle on the custody boundary. Key management passes straight through; a
//! signature can be asked for only with the policy engine's `Approved` decision — a value only
//! `custos-policy` can make — only over the bytes that decision judged (its payload digest), and
//! the action the boundary is told is that decision's, not the caller's. Handlers never hold the
//! `Custody` trait object itself, so there is no path from a handler to a signature that skips
//! the policy.
use custos_core::{
    AgentId, AttestationDocument, ChainAdapter, Custody, CustodyError, HeldPolicy, KeyScheme,
    PayloadDigest, PolicyApplied, PolicyJson, PublicKeyInfo, SignPayload, SignRequest, Signature,
};
use custos_policy::{Allowance, Approved};
use std::sync::Arc;

/// The boundary, as handlers see it.
pub struct Boundary(Arc<dyn Custody>);

impl Boundary {
    /// Wraps the configured backend.
    pub fn new(custody: Arc<dyn Custody>) -> Self {
        Self(custody)
    }

    /// Signs `payload` (a message or typed data) with `agent`'s `scheme` key for what
    /// `approved` allowed, provided the decision was about exactly these bytes. The boundary
    /// still judges them itself under its own owner-signed policy.
    pub async fn sign(
        &self,
        approved: &Approved<Allowance>,
        agent: AgentId,
        scheme: KeyScheme,
        payload: SignPayload,
    ) -> Result<Signature, CustodyError> {
        self.sign_judged(approved, agent, scheme, payload.digest(), payload)
            .await
    }

    /// Signs the transaction `tx_bytes` for `adapter`'s chain, provided `approved` was decided
    /// about this transaction (up to the sequence number the adapter writes; see
    /// [`ChainAdapter::judged_digest`]).
    pub async fn sign_transaction(
        &self,
        approved: &Approved<Allowance>,
        agent: AgentId,
        adapter: &dyn ChainAdapter,
        tx_bytes: &[u8],
    ) -> Result<Signature, CustodyError> {
        let judged = adapter
            .judged_digest(tx_bytes)
            .map_err(|e| CustodyError::InvalidPayload(e.to_string()))?;
        self.sign_judged(
            approved,
            agent,
            adapter.key_scheme(),
            judged,
            adapter.sign_payload(tx_bytes),
        )
        .await
    }

    async fn sign_judged(
        &self,
        approved: &Approved<Allowance>,
        agent: AgentId,
        scheme: KeyScheme,
        judged: PayloadDigest,
        payload: SignPayload,
    ) -> Result<Signature, CustodyError> {
        if approved.get().payload != Some(judged) {
            // Only a bug in this server gets here: nothing reaches the boundary.
            tracing::error!(%agent, "a policy decision was presented for other bytes than it judged; nothing signed");
            return Err(CustodyError::Internal(
                "the policy decision is not about these bytes".into(),
            ));
        }
        self.0
            .sign(SignRequest {
                agent_id: agent,
                scheme,
                payload,
                action: Some(approved.get().intent.action),
            })
            .await
    }

    /// Signs a Kalshi API request with `agent`'s RSA key, for a request the policy's prediction
    /// rules approved (an order inside its caps, a cancellation, a portfolio read). The
    /// boundary judges it again under its own owner-signed policy and signs the text it builds
    /// itself (`timestamp + METHOD + path`).
    pub async fn sign_kalshi(
        &self,
        approved: &Approved<custos_core::KalshiRequest>,
        agent: AgentId,
    ) -> Result<Signature, CustodyError> {
        self.0
            .sign(SignRequest {
                agent_id: agent,
                scheme: KeyScheme::RsaPssSha256,
                payload: SignPayload::KalshiRequest {
                    request: Box::new(approved.get().clone()),
                },
                action: Some(custos_core::Action::Prediction),
            })
            .await
    }

    /// See [`Custody::create_key`].
    pub async fn create_key(
        &self,
        agent: AgentId,
        scheme: KeyScheme,
    ) -> Result<PublicKeyInfo, CustodyError> {
        self.0.create_key(agent, scheme).await
    }

    /// See [`Custody::public_key`].
    pub async fn public_key(
        &self,
        agent: AgentId,
        scheme: KeyScheme,
    ) -> Result<Option<PublicKeyInfo>, CustodyError> {
        self.0.public_key(agent, scheme).await
    }

    /// See [`Custody::rotate`].
    pub async fn rotate(
        &self,
        agent: AgentId,
        scheme: KeyScheme,
    ) -> Result<PublicKeyInfo, CustodyError> {
        self.0.rotate(agent, scheme).await
    }

    /// See [`Custody::attestation`].
    pub async fn attestation(&self, nonce: &[u8]) -> Result<AttestationDocument, CustodyError> {
        self.0.attestation(nonce).await
    }

    /// See [`Custody::health`].
    pub async fn health(&self) -> Result<(), CustodyError> {
        self.0.health().await
    }

    /// See [`Custody::submit_policy`].
    pub async fn submit_policy(&self, envelope: PolicyJson) -> Result<PolicyApplied, CustodyError> {
        self.0.submit_policy(envelope).await
    }

    /// See [`Custody::held_policy`].
    pub async fn held_policy(&self, agent: AgentId) -> Result<Option<HeldPolicy>, CustodyError> {
        self.0.held_policy(agent).await
    }

    /// See [`Custody::set_frozen`].
    pub async fn set_frozen(
        &self,
        target: custos_core::FreezeTarget,
        frozen: bool,
    ) -> Result<custos_core::FreezeState, CustodyError> {
        self.0.set_frozen(target, frozen).await
    }

    /// See [`Custody::frozen`].
    pub async fn frozen(&self) -> Result<custos_core::FreezeState, CustodyError> {
        self.0.frozen().await
    }
}

#[cfg(test)]
mod tests {
    //! The handle refuses, before the boundary hears of it, a decision presented for bytes other
    //! than the ones it judged, and a decision that judged no bytes at all.
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use custos_core::{Action, AuditCheckpoint, Chain, Decimal, Effects, Intent, Usage, UsdValue};
    use custos_policy::{Decision, PolicyDocument};
    use std::sync::Mutex;

    /// Records what reaches the boundary; signs nothing real.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<SignPayload>>);

    #[async_trait::async_trait]
    impl Custody for Recorder {
        async fn create_key(
            &self,
            _: AgentId,
            _: KeyScheme,
        ) -> Result<PublicKeyInfo, CustodyError> {
            Err(CustodyError::Internal("unused".into()))
        }
        async fn public_key(
            &self,
            _: AgentId,
            _: KeyScheme,
        ) -> Result<Option<PublicKeyInfo>, CustodyError> {
            Ok(None)
        }
        async fn sign(&self, req: SignRequest) -> Result<Signature, CustodyError> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(req.payload);
            Ok(Signature {
                key_id: "k".into(),
                scheme: req.scheme,
                bytes: vec![0; 64],
                public_key: vec![0; 32],
            })
        }
        async fn submit_policy(&self, _: PolicyJson) -> Result<PolicyApplied, CustodyError> {
            Err(CustodyError::Internal("unused".into()))
        }
        async fn held_policy(&self, _: AgentId) -> Result<Option<HeldPolicy>, CustodyError> {
            Ok(None)
        }
        async fn attestation(&self, _: &[u8]) -> Result<AttestationDocument, CustodyError> {
            Err(CustodyError::Internal("unused".into()))
        }
        async fn rotate(&self, _: AgentId, _: KeyScheme) -> Result<PublicKeyInfo, CustodyError> {
            Err(CustodyError::Internal("unused".into()))
        }
        async fn sign_audit_checkpoint(
            &self,
            _: u64,
            _: [u8; 32],
        ) -> Result<AuditCheckpoint, CustodyError> {
            Err(CustodyError::Internal("unused".into()))
        }
        async fn health(&self) -> Result<(), CustodyError> {
            Ok(())
        }
        async fn set_frozen(
            &self,
            _: custos_core::FreezeTarget,
            _: bool,
        ) -> Result<custos_core::FreezeState, CustodyError> {
            Err(CustodyError::Internal("unused".into()))
        }
        async fn frozen(&self) -> Result<custos_core::FreezeState, CustodyError> {
            Ok(custos_core::FreezeState::default())
        }
    }

    fn message_intent() -> Intent {
        Intent {
            action: Action::SignMessage,
            chain: Chain::Solana,
            recipient: None,
            asset: None,
            amount: Decimal::ZERO,
            declared_usd: UsdValue::Known(Decimal::ZERO),
        }
    }

    fn approve(payload: Option<&SignPayload>) -> Approved<Allowance> {
        let (policy, intent) = (PolicyDocument::default(), message_intent());
        let (effects, usage) = (Effects::default(), Usage::default());
        let d = match payload {
            Some(p) => {
                custos_policy::evaluate_payload(&policy, &intent, &effects, &usage, 0, p.digest())
            }
            None => custos_policy::evaluate(&policy, &intent, &effects, &usage),
        };
        match d {
            Decision::Allow(a) => *a,
            other => panic!("the default policy allows messages: {other:?}"),
        }
    }

    #[tokio::test]
    async fn only_the_judged_bytes_are_signed() {
        let rec = Arc::new(Recorder::default());
        let boundary = Boundary::new(rec.clone());
        let agent = AgentId::new_random();
        let judged = SignPayload::Message {
            bytes: b"pay 1 to alice".to_vec(),
        };
        let other = SignPayload::Message {
            bytes: b"pay 1000 to mallory".to_vec(),
        };
        let approved = approve(Some(&judged));

        let err = boundary
            .sign(&approved, agent, KeyScheme::Ed25519, other)
            .await
            .unwrap_err();
        assert!(
            matches!(err, CustodyError::Internal(ref m) if m.contains("not about these bytes"))
        );
        // The same bytes under another kind are other bytes too.
        let as_hash = SignPayload::RawHash {
            hash: b"pay 1 to alice".to_vec(),
        };
        assert!(boundary
            .sign(&approved, agent, KeyScheme::Ed25519, as_hash)
            .await
            .is_err());
        // A decision that judged no bytes signs nothing.
        assert!(boundary
            .sign(&approve(None), agent, KeyScheme::Ed25519, judged.clone())
            .await
            .is_err());
        assert!(
            rec.0.lock().unwrap().is_empty(),
            "nothing reached the boundary"
        );

        boundary
            .sign(&approved, agent, KeyScheme::Ed25519, judged.clone())
            .await
            .unwrap();
        assert_eq!(*rec.0.lock().unwrap(), vec![judged]);
    }
}
