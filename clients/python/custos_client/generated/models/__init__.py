""" Contains all the data models used in inputs/outputs """

from .airdrop_body import AirdropBody
from .audit_page import AuditPage
from .audit_record import AuditRecord
from .confirmed import Confirmed
from .dry_run import DryRun
from .dry_run_body import DryRunBody
from .dry_run_explanation import DryRunExplanation
from .dry_run_simulated_type_0 import DryRunSimulatedType0
from .error_body import ErrorBody
from .error_detail import ErrorDetail
from .error_detail_details_type_0 import ErrorDetailDetailsType0
from .evm_message_body import EvmMessageBody
from .evm_message_body_typed_data_type_0 import EvmMessageBodyTypedDataType0
from .evm_signature import EvmSignature
from .kill_switch_body import KillSwitchBody
from .liquidity_body import LiquidityBody
from .mint_body import MintBody
from .new_api_key import NewApiKey
from .otp_request import OtpRequest
from .paid import Paid
from .paid_body import PaidBody
from .paid_payment_type_0 import PaidPaymentType0
from .paid_receipt_type_0 import PaidReceiptType0
from .pay_body import PayBody
from .pay_body_quote_type_0 import PayBodyQuoteType0
from .pending_approval import PendingApproval
from .prediction_body import PredictionBody
from .put_policy_body import PutPolicyBody
from .replace_body import ReplaceBody
from .sign_message_body import SignMessageBody
from .sign_tx_body import SignTxBody
from .signed_message import SignedMessage
from .signed_transaction import SignedTransaction
from .slots_body import SlotsBody
from .tighten_body import TightenBody
from .trade_body import TradeBody
from .transfer_body import TransferBody
from .verify_request import VerifyRequest
from .verify_response import VerifyResponse
from .wallet_view import WalletView
from .wallet_view_addresses import WalletViewAddresses
from .webhook_body import WebhookBody

__all__ = (
    "AirdropBody",
    "AuditPage",
    "AuditRecord",
    "Confirmed",
    "DryRun",
    "DryRunBody",
    "DryRunExplanation",
    "DryRunSimulatedType0",
    "ErrorBody",
    "ErrorDetail",
    "ErrorDetailDetailsType0",
    "EvmMessageBody",
    "EvmMessageBodyTypedDataType0",
    "EvmSignature",
    "KillSwitchBody",
    "LiquidityBody",
    "MintBody",
    "NewApiKey",
    "OtpRequest",
    "Paid",
    "PaidBody",
    "PaidPaymentType0",
    "PaidReceiptType0",
    "PayBody",
    "PayBodyQuoteType0",
    "PendingApproval",
    "PredictionBody",
    "PutPolicyBody",
    "ReplaceBody",
    "SignedMessage",
    "SignedTransaction",
    "SignMessageBody",
    "SignTxBody",
    "SlotsBody",
    "TightenBody",
    "TradeBody",
    "TransferBody",
    "VerifyRequest",
    "VerifyResponse",
    "WalletView",
    "WalletViewAddresses",
    "WebhookBody",
)
