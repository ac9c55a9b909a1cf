from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.confirmed import Confirmed
from ...models.dry_run import DryRun
from ...models.error_body import ErrorBody
from ...models.pending_approval import PendingApproval
from ...models.sign_message_body import SignMessageBody
from ...models.sign_tx_body import SignTxBody
from ...models.signed_message import SignedMessage
from ...models.signed_transaction import SignedTransaction
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    *,
    body: SignMessageBody | SignTxBody,
    dry_run: bool | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,

) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key



    

    params: dict[str, Any] = {}

    params["dry_run"] = dry_run


    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}


    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/wallets/me/actions/sign",
        "params": params,
    }

    
    if isinstance(body, SignTxBody):
        _kwargs["json"] = body.to_dict()
    else:
        _kwargs["json"] = body.to_dict()


    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Any | Confirmed | DryRun | SignedMessage | SignedTransaction | ErrorBody | PendingApproval | None:
    if response.status_code == 200:
        def _parse_response_200(data: object) -> Confirmed | DryRun | SignedMessage | SignedTransaction:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                response_200_type_0 = Confirmed.from_dict(data)



                return response_200_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                response_200_type_1 = SignedTransaction.from_dict(data)



                return response_200_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                response_200_type_2 = SignedMessage.from_dict(data)



                return response_200_type_2
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            response_200_type_3 = DryRun.from_dict(data)



            return response_200_type_3

        response_200 = _parse_response_200(response.json())

        return response_200

    if response.status_code == 202:
        response_202 = PendingApproval.from_dict(response.json())



        return response_202

    if response.status_code == 400:
        response_400 = ErrorBody.from_dict(response.json())



        return response_400

    if response.status_code == 401:
        response_401 = ErrorBody.from_dict(response.json())



        return response_401

    if response.status_code == 403:
        response_403 = cast(Any, None)
        return response_403

    if response.status_code == 408:
        response_408 = ErrorBody.from_dict(response.json())



        return response_408

    if response.status_code == 409:
        response_409 = cast(Any, None)
        return response_409

    if response.status_code == 413:
        response_413 = ErrorBody.from_dict(response.json())



        return response_413

    if response.status_code == 422:
        response_422 = cast(Any, None)
        return response_422

    if response.status_code == 429:
        response_429 = ErrorBody.from_dict(response.json())



        return response_429

    if response.status_code == 500:
        response_500 = ErrorBody.from_dict(response.json())



        return response_500

    if response.status_code == 502:
        response_502 = cast(Any, None)
        return response_502

    if response.status_code == 503:
        response_503 = ErrorBody.from_dict(response.json())



        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Any | Confirmed | DryRun | SignedMessage | SignedTransaction | ErrorBody | PendingApproval]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: SignMessageBody | SignTxBody,
    dry_run: bool | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,

) -> Response[Any | Confirmed | DryRun | SignedMessage | SignedTransaction | ErrorBody | PendingApproval]:
    """ Performs an action for the caller.

    Args:
        dry_run (bool | Unset):
        idempotency_key (None | str | Unset):
        body (SignMessageBody | SignTxBody):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Confirmed | DryRun | SignedMessage | SignedTransaction | ErrorBody | PendingApproval]
     """


    kwargs = _get_kwargs(
        body=body,
dry_run=dry_run,
idempotency_key=idempotency_key,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    *,
    client: AuthenticatedClient,
    body: SignMessageBody | SignTxBody,
    dry_run: bool | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,

) -> Any | Confirmed | DryRun | SignedMessage | SignedTransaction | ErrorBody | PendingApproval | None:
    """ Performs an action for the caller.

    Args:
        dry_run (bool | Unset):
        idempotency_key (None | str | Unset):
        body (SignMessageBody | SignTxBody):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Confirmed | DryRun | SignedMessage | SignedTransaction | ErrorBody | PendingApproval
     """


    return sync_detailed(
        client=client,
body=body,
dry_run=dry_run,
idempotency_key=idempotency_key,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: SignMessageBody | SignTxBody,
    dry_run: bool | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,

) -> Response[Any | Confirmed | DryRun | SignedMessage | SignedTransaction | ErrorBody | PendingApproval]:
    """ Performs an action for the caller.

    Args:
        dry_run (bool | Unset):
        idempotency_key (None | str | Unset):
        body (SignMessageBody | SignTxBody):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Confirmed | DryRun | SignedMessage | SignedTransaction | ErrorBody | PendingApproval]
     """


    kwargs = _get_kwargs(
        body=body,
dry_run=dry_run,
idempotency_key=idempotency_key,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    *,
    client: AuthenticatedClient,
    body: SignMessageBody | SignTxBody,
    dry_run: bool | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,

) -> Any | Confirmed | DryRun | SignedMessage | SignedTransaction | ErrorBody | PendingApproval | None:
    """ Performs an action for the caller.

    Args:
        dry_run (bool | Unset):
        idempotency_key (None | str | Unset):
        body (SignMessageBody | SignTxBody):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Confirmed | DryRun | SignedMessage | SignedTransaction | ErrorBody | PendingApproval
     """


    return (await asyncio_detailed(
        client=client,
body=body,
dry_run=dry_run,
idempotency_key=idempotency_key,

    )).parsed
