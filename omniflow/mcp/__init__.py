"""``omniflow mcp``: a Model Context Protocol server, so coding agents drive a project.

An agent sees what a person sees (located problems, the plan, its cost) and
may pay only for what was shown: ``run`` takes a saved plan and its digest and
nothing else, within the project's ``[mcp] max_cost`` per day. Every tool is
the library function the matching CLI command calls.

- :mod:`omniflow.mcp.server`: the MCP server (official ``mcp`` SDK), its tools and resources;
- :mod:`omniflow.mcp.tools`: what each tool does, as plain functions over a project;
- :mod:`omniflow.mcp.budget`: the day's spending cap;
- :mod:`omniflow.mcp.progress`: finished steps as MCP progress notifications;
- :mod:`omniflow.mcp.reference`: the read-only resources (language reference, schema, catalogue).

The ``mcp`` SDK is an optional extra (``pip install 'omniflow[mcp]'``); only
:mod:`omniflow.mcp.server` imports it.
"""
