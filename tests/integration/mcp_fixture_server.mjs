// A small MCP server built on the official SDK (@modelcontextprotocol/sdk) for the
// gateway's failure and pricing tests: tools that report their own cost, crash the
// server, hang, or take a while. The protocol side is entirely the SDK's.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const server = new McpServer({ name: 'tollgate-fixture', version: '1.0.0' });
const text = (t) => [{ type: 'text', text: t }];

server.registerTool('priced', {
  description: 'Returns _meta.cost_micros as given (omitted when cost is absent)',
  inputSchema: { cost: z.number().int().optional() },
}, async ({ cost }) => (cost === undefined ? { content: text('no cost') }
  : { content: text(`cost ${cost}`), _meta: { cost_micros: cost } }));
server.registerTool('echo', { inputSchema: { message: z.string() } },
  async ({ message }) => ({ content: text(message) }));
server.registerTool('slow', { inputSchema: { ms: z.number() } },
  async ({ ms }) => { await new Promise((r) => setTimeout(r, ms)); return { content: text('done') }; });
server.registerTool('hang', { inputSchema: {} }, () => new Promise(() => {}));
server.registerTool('crash', { inputSchema: {} }, async () => { process.exit(3); });
// Declares an outputSchema: the SDK client validates any structuredContent against it, even
// an error's, so a refusal of this tool must not carry Tollgate's own object there.
server.registerTool('typed', { inputSchema: {}, outputSchema: { total: z.number() } },
  async () => ({ content: text('{"total":1}'), structuredContent: { total: 1 } }));
server.registerTool('fail', { inputSchema: {} }, async () => ({ content: text('tool failed'), isError: true }));

await server.connect(new StdioServerTransport());
