from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.error_body import ErrorBody
from ...models.replace_body import ReplaceBody
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    tx: str,
    *,
    body: None | ReplaceBody | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,

) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key



    

    

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/wallets/me/transactions/{tx}/speed-up".format(tx=quote(str(tx), safe=""),),
    }

    
    if isinstance(body, ReplaceBody):
        _kwargs["json"] = body.to_dict()
    else:
        _kwargs["json"] = body

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Any | ErrorBody | None:
    if response.status_code == 200:
        response_200 = cast(Any, None)
        return response_200

    if response.status_code == 202:
        response_202 = cast(Any, None)
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

    if response.status_code == 404:
        response_404 = cast(Any, None)
        return response_404

    if response.status_code == 408:
        response_408 = ErrorBody.from_dict(response.json())



        return response_408

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

    if response.status_code == 503:
        response_503 = ErrorBody.from_dict(response.json())



        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Any | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    tx: str,
    *,
    client: AuthenticatedClient,
    body: None | ReplaceBody | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,

) -> Response[Any | ErrorBody]:
    """ Speeds up the caller's pending EVM transaction: the same transaction under the same nonce
    with both fees raised by at least `fee_bump_percent` (default 25), judged under the current
    policy, signed in the custody boundary and sent; whichever of the two lands settles the
    original request (its `Idempotency-Key` answers with the one that did).

    Args:
        tx (str):
        idempotency_key (None | str | Unset):
        body (None | ReplaceBody | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | ErrorBody]
     """


    kwargs = _get_kwargs(
        tx=tx,
body=body,
idempotency_key=idempotency_key,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    tx: str,
    *,
    client: AuthenticatedClient,
    body: None | ReplaceBody | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,

) -> Any | ErrorBody | None:
    """ Speeds up the caller's pending EVM transaction: the same transaction under the same nonce
    with both fees raised by at least `fee_bump_percent` (default 25), judged under the current
    policy, signed in the custody boundary and sent; whichever of the two lands settles the
    original request (its `Idempotency-Key` answers with the one that did).

    Args:
        tx (str):
        idempotency_key (None | str | Unset):
        body (None | ReplaceBody | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | ErrorBody
     """


    return sync_detailed(
        tx=tx,
client=client,
body=body,
idempotency_key=idempotency_key,

    ).parsed

async def asyncio_detailed(
    tx: str,
    *,
    client: AuthenticatedClient,
    body: None | ReplaceBody | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,

) -> Response[Any | ErrorBody]:
    """ Speeds up the caller's pending EVM transaction: the same transaction under the same nonce
    with both fees raised by at least `fee_bump_percent` (default 25), judged under the current
    policy, signed in the custody boundary and sent; whichever of the two lands settles the
    original request (its `Idempotency-Key` answers with the one that did).

    Args:
        tx (str):
        idempotency_key (None | str | Unset):
        body (None | ReplaceBody | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | ErrorBody]
     """


    kwargs = _get_kwargs(
        tx=tx,
body=body,
idempotency_key=idempotency_key,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    tx: str,
    *,
    client: AuthenticatedClient,
    body: None | ReplaceBody | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,

) -> Any | ErrorBody | None:
    """ Speeds up the caller's pending EVM transaction: the same transaction under the same nonce
    with both fees raised by at least `fee_bump_percent` (default 25), judged under the current
    policy, signed in the custody boundary and sent; whichever of the two lands settles the
    original request (its `Idempotency-Key` answers with the one that did).

    Args:
        tx (str):
        idempotency_key (None | str | Unset):
        body (None | ReplaceBody | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | ErrorBody
     """


    return (await asyncio_detailed(
        tx=tx,
client=client,
body=body,
idempotency_key=idempotency_key,

    )).parsed
