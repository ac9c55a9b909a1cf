//! The OpenAPI document, generated from the handlers' annotations.
use crate::actions::{evm_message, sign, trade, transfer};
use crate::routes::{admin, auth, dev, keys, system, wallet};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Custos", description = "Wallet and signing service for autonomous agents. Errors: `{\"error\":{\"code\",\"message\",\"field\"?,\"details\"?}}`."),
    paths(
        auth::request_otp, auth::verify_otp, auth::jwks,
        wallet::me, wallet::my_policy, wallet::my_audit, wallet::balances, wallet::action,
        dev::airdrop, dev::create_mint,
        admin::list_approvals, admin::approve, admin::reject, keys::list, keys::rotate,
        admin::list_agents, admin::get_agent, admin::get_policy, admin::put_policy, admin::freeze, admin::unfreeze,
        admin::create_api_key, admin::revoke_api_key, admin::audit, admin::audit_verify,
        system::healthz, system::metrics, system::attestation,
    ),
    components(schemas(auth::OtpRequest, auth::VerifyRequest, auth::VerifyResponse, wallet::WalletView, wallet::SignMessageBody, wallet::SignedMessage, transfer::TransferBody, sign::SignTxBody, trade::TradeBody, evm_message::EvmMessageBody, dev::AirdropBody, dev::MintBody)),
    modifiers(&Bearer),
)]
struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = api.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(
                            "Session JWT, agent API key (cka_…) or operator token (cko_…)",
                        ))
                        .build(),
                ),
            );
        }
    }
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
