#!/usr/bin/env python3
"""A real MCP client (the official Python `mcp` SDK) driving Custos' MCP server, for the tests.

    mcp_client.py stdio CUSTOS_BINARY SERVER_URL PLAN_JSON   # starts `custos mcp` as a child
    mcp_client.py http MCP_URL PLAN_JSON                      # streamable HTTP at /mcp

The agent's token comes from the environment variable MCP_AGENT_TOKEN (never argv). PLAN_JSON
is a list of steps: {"op": "list"} or {"op": "call", "tool": NAME, "arguments": {...}}. Prints
one JSON document: the protocol version negotiated and, per step, the tool names listed or the
call's isError, structuredContent and text.
"""
import asyncio
import json
import os
import sys
import tempfile

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client


async def run_plan(session, plan):
    init = await session.initialize()
    out = {"protocol_version": str(init.protocol_version), "server": init.server_info.name, "steps": []}
    for step in plan:
        if step["op"] == "list":
            tools = await session.list_tools()
            out["steps"].append({"tools": [t.name for t in tools.tools]})
        elif step["op"] == "call":
            r = await session.call_tool(step["tool"], step.get("arguments", {}))
            text = "".join(getattr(c, "text", "") for c in r.content)
            out["steps"].append(
                {"is_error": bool(r.is_error), "structured": r.structured_content, "text": text}
            )
        else:
            raise SystemExit(f"unknown op {step['op']!r}")
    return out


async def main():
    token = os.environ["MCP_AGENT_TOKEN"]
    mode = sys.argv[1]
    if mode == "stdio":
        binary, url, plan = sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
        env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS")}
        env.update({"CUSTOSCLI_URL": url, "CUSTOSCLI_TOKEN": token,
                    "CUSTOSCLI_PROFILES": os.path.join(tempfile.mkdtemp(), "none.toml")})
        params = StdioServerParameters(command=binary, args=["mcp"], env=env)
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                result = await run_plan(session, plan)
    elif mode == "http":
        url, plan = sys.argv[2], json.loads(sys.argv[3])
        client = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        async with client:
            async with streamable_http_client(url, http_client=client) as streams:
                read, write = streams[0], streams[1]
                async with ClientSession(read, write) as session:
                    result = await run_plan(session, plan)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
