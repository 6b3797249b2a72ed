// A real MCP client for tests/90-mcp.bats: the official SDK's Client over
// its stdio transport, driving airlock-mcp as an agent host would.  It
// prints one JSON line per step; the bats file asserts on them.
//
//   node client.cjs MODULES COMMAND [ARG ...]
//
// MODULES is the node_modules directory make check installs the pinned
// SDK into (build/mcp/node_modules); COMMAND and ARGs start airlock-mcp.
'use strict';

const { createRequire } = require('node:module');
const path = require('node:path');

const [modules, command, ...args] = process.argv.slice(2);
const sdk = createRequire(path.join(path.resolve(modules), 'x.js'));
const { Client } = sdk('@modelcontextprotocol/sdk/client/index.js');
const { StdioClientTransport } = sdk('@modelcontextprotocol/sdk/client/stdio.js');
const types = sdk('@modelcontextprotocol/sdk/types.js');

function out(step, value) {
	process.stdout.write(JSON.stringify({ step, ...value }) + '\n');
}

// A request the SDK's own methods would refuse to send: its JSON-RPC
// error, as the client sees it.
async function raw(client, step, method, params) {
	try {
		const r = await client.request({ method, params },
		    types.CallToolResultSchema);
		out(step, { result: r });
	} catch (e) {
		out(step, { code: e.code, message: e.message });
	}
}

async function main() {
	const transport = new StdioClientTransport({
		command, args, stderr: 'inherit',
		env: { ...process.env },
	});
	const client = new Client({ name: 'airlock-test', version: '1.0.0' });
	await client.connect(transport);
	out('initialize', {
		server: client.getServerVersion(),
		capabilities: client.getServerCapabilities(),
	});
	await client.ping();
	out('ping', {});

	const { tools } = await client.listTools();
	out('tools', { tools: tools.map((t) => ({
		name: t.name,
		required: t.inputSchema.required || [],
		properties: Object.keys(t.inputSchema.properties || {}),
		output: Object.keys((t.outputSchema || {}).properties || {}),
	})) });

	// callTool checks structuredContent against the tool's outputSchema.
	const answer = await client.callTool({ name: 'run_python',
	    arguments: { payload: 'print(6 * 7)' } });
	out('run', { isError: answer.isError || false,
	    text: answer.content[0].text,
	    structured: answer.structuredContent });

	const denied = await client.callTool({ name: 'run_python',
	    arguments: { payload: 'import socket; socket.socket()' } });
	out('socket', { isError: denied.isError || false,
	    structured: denied.structuredContent });

	// Arguments airlock refuses: a signed 400, not a protocol error.
	const bad = await client.callTool({ name: 'run_python',
	    arguments: { payload: 'print(1)', limits: { wall_ms: 999999999 } } });
	out('badlimits', { isError: bad.isError || false,
	    structured: bad.structuredContent });

	await raw(client, 'nomethod', 'airlock/no-such-method', {});
	await raw(client, 'notool', 'tools/call', { name: 'no_such_tool',
	    arguments: {} });
	await raw(client, 'badargs', 'tools/call', { name: 'run_python',
	    arguments: 'print(1)' });
	await raw(client, 'noname', 'tools/call', { arguments: {} });

	// Still serving after all of that.
	const after = await client.callTool({ name: 'run_python',
	    arguments: { payload: 'print("still here")' } });
	out('after', { structured: after.structuredContent });
	await client.close();
}

main().catch((e) => {
	out('failed', { error: String(e && e.stack || e) });
	process.exit(1);
});
