from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.error_body import ErrorBody
from typing import cast



def _get_kwargs(
    tx: str,

) -> dict[str, Any]:
    

    

    

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/wallets/me/transactions/{tx}".format(tx=quote(str(tx), safe=""),),
    }


    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Any | ErrorBody | None:
    if response.status_code == 200:
        response_200 = cast(Any, None)
        return response_200

    if response.status_code == 401:
        response_401 = ErrorBody.from_dict(response.json())



        return response_401

    if response.status_code == 403:
        response_403 = ErrorBody.from_dict(response.json())



        return response_403

    if response.status_code == 404:
        response_404 = cast(Any, None)
        return response_404

    if response.status_code == 422:
        response_422 = ErrorBody.from_dict(response.json())



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

) -> Response[Any | ErrorBody]:
    """ One of the caller's transactions: its audit records and what the chain says now
    (`chain_status`: `confirmed`, `failed` (landed with an error), `pending` (an EVM transaction
    still in the node's pool), `replaced` (a speed-up or cancel of it landed instead),
    `not_found` (not on chain, or not yet), or `unknown` when the chain cannot be asked); a
    pending transaction that will not be mined as it is carries `stuck`, saying why (its fee cap
    is below the base fee, or it waits behind a missing nonce).

    Args:
        tx (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | ErrorBody]
     """


    kwargs = _get_kwargs(
        tx=tx,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    tx: str,
    *,
    client: AuthenticatedClient,

) -> Any | ErrorBody | None:
    """ One of the caller's transactions: its audit records and what the chain says now
    (`chain_status`: `confirmed`, `failed` (landed with an error), `pending` (an EVM transaction
    still in the node's pool), `replaced` (a speed-up or cancel of it landed instead),
    `not_found` (not on chain, or not yet), or `unknown` when the chain cannot be asked); a
    pending transaction that will not be mined as it is carries `stuck`, saying why (its fee cap
    is below the base fee, or it waits behind a missing nonce).

    Args:
        tx (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | ErrorBody
     """


    return sync_detailed(
        tx=tx,
client=client,

    ).parsed

async def asyncio_detailed(
    tx: str,
    *,
    client: AuthenticatedClient,

) -> Response[Any | ErrorBody]:
    """ One of the caller's transactions: its audit records and what the chain says now
    (`chain_status`: `confirmed`, `failed` (landed with an error), `pending` (an EVM transaction
    still in the node's pool), `replaced` (a speed-up or cancel of it landed instead),
    `not_found` (not on chain, or not yet), or `unknown` when the chain cannot be asked); a
    pending transaction that will not be mined as it is carries `stuck`, saying why (its fee cap
    is below the base fee, or it waits behind a missing nonce).

    Args:
        tx (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | ErrorBody]
     """


    kwargs = _get_kwargs(
        tx=tx,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    tx: str,
    *,
    client: AuthenticatedClient,

) -> Any | ErrorBody | None:
    """ One of the caller's transactions: its audit records and what the chain says now
    (`chain_status`: `confirmed`, `failed` (landed with an error), `pending` (an EVM transaction
    still in the node's pool), `replaced` (a speed-up or cancel of it landed instead),
    `not_found` (not on chain, or not yet), or `unknown` when the chain cannot be asked); a
    pending transaction that will not be mined as it is carries `stuck`, saying why (its fee cap
    is below the base fee, or it waits behind a missing nonce).

    Args:
        tx (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | ErrorBody
     """


    return (await asyncio_detailed(
        tx=tx,
client=client,

    )).parsed
