// Request shapes for the proxy's bound tests (proxy_bounds, proxy_bounds_concurrent):
// every billable part on each wire (tools, images, documents, server tools, stored
// state, background, no cap), streamed and not, sent with the official SDKs to a
// daemon whose upstream is tests/upstream/fake_llm.js in `x-fake-bill: max` mode (it
// bills the most the provider's published rules allow for the request). Each shape
// says whether Tollgate must admit it (then charged <= held must hold) or refuse it
// with a 400 that names what is unbounded.
'use strict';

// A PNG header of the given size (the bound and the fake read only the header).
function png(width, height) {
  const bytes = Buffer.alloc(33);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(bytes, 0);
  bytes.writeUInt32BE(13, 8);
  bytes.write('IHDR', 12, 'latin1');
  bytes.writeUInt32BE(width, 16);
  bytes.writeUInt32BE(height, 20);
  bytes[24] = 8; bytes[25] = 2;
  return bytes.toString('base64');
}

// A PDF with `pages` page objects and a page tree counting them.
function pdf(pages) {
  let text = '%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n';
  const kids = [];
  for (let i = 0; i < pages; i++) {
    kids.push(`${3 + i} 0 R`);
    text += `${3 + i} 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj\n`;
  }
  text += `2 0 obj << /Type /Pages /Kids [${kids.join(' ')}] /Count ${pages} >> endobj\n%%EOF\n`;
  return Buffer.from(text, 'latin1').toString('base64');
}

const LONG = 'The quick brown fox jumps over the lazy dog. '.repeat(40);
const TOOL = { type: 'function', function: { name: 'get_weather', description: 'Weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string', enum: ['Paris', 'Rome'] } }, required: ['city'] } } };
const CLAUDE_TOOL = { name: 'get_weather', description: 'Weather for a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } };

const chat = (body) => ({ wire: 'chat', body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], ...body } });
const responses = (body) => ({ wire: 'responses', body: { model: 'gpt-4o-mini', input: 'hi', ...body } });
const claude = (body) => ({ wire: 'anthropic', body: { model: 'claude-sonnet-4-0', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }], ...body } });

// Shapes Tollgate must admit and bound.
const ADMITTED = {
  'chat text': chat({ max_tokens: 50 }),
  'chat no cap': chat({}),
  'chat long text, n=3': chat({ max_completion_tokens: 40, n: 3, messages: [{ role: 'system', content: LONG }, { role: 'user', content: LONG }] }),
  'chat tools and tool_choice': chat({ max_tokens: 30, tools: [TOOL], tool_choice: 'required' }),
  'chat image by size': chat({ max_tokens: 20, messages: [{ role: 'user', content: [{ type: 'text', text: 'what is it' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${png(1800, 900)}` } }] }] }),
  'chat image by URL': chat({ model: 'gpt-4o', max_tokens: 20, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] }] }),
  'chat PDF file': chat({ max_tokens: 20, messages: [{ role: 'user', content: [{ type: 'file', file: { filename: 'a.pdf', file_data: `data:application/pdf;base64,${pdf(10)}` } }] }] }),
  'chat web search': chat({ max_tokens: 20, web_search_options: {} }),
  'responses text': responses({ max_output_tokens: 40, instructions: LONG }),
  'responses no cap': responses({}),
  'responses image and PDF': responses({ max_output_tokens: 20, input: [{ role: 'user', content: [{ type: 'input_text', text: 'read' }, { type: 'input_image', image_url: `data:image/png;base64,${png(512, 512)}` }, { type: 'input_file', filename: 'b.pdf', file_data: `data:application/pdf;base64,${pdf(4)}` }] }] }),
  'responses web search, max_tool_calls 2': responses({ max_output_tokens: 30, tools: [{ type: 'web_search' }], max_tool_calls: 2 }),
  'responses previous_response_id': responses({ max_output_tokens: 30, previous_response_id: 'PREVIOUS' }),
  'responses background': responses({ max_output_tokens: 40, background: true, instructions: LONG }),
  'responses background, web search and code interpreter': responses({ max_output_tokens: 30, background: true, tools: [{ type: 'web_search' }, { type: 'code_interpreter', container: { type: 'auto' } }], max_tool_calls: 3 }),
  'claude text': claude({}),
  'claude system and long text': claude({ system: LONG, messages: [{ role: 'user', content: LONG }] }),
  'claude tools, tool_choice any': claude({ tools: [CLAUDE_TOOL], tool_choice: { type: 'any' } }),
  'claude bash and text editor tools': claude({ tools: [{ type: 'bash_20250124', name: 'bash' }, { type: 'text_editor_20250124', name: 'str_replace_editor' }] }),
  'claude image by size': claude({ messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: png(3000, 2000) } }, { type: 'text', text: 'what' }] }] }),
  'claude image by URL': claude({ messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } }] }] }),
  'claude PDF, 10 pages': claude({ messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: pdf(10) } }, { type: 'text', text: 'summarise' }] }] }),
  'claude web_search max_uses 3': claude({ tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 3 }] }),
  'claude cache write 1h': claude({ system: [{ type: 'text', text: LONG, cache_control: { type: 'ephemeral', ttl: '1h' } }] }),
};

// Shapes Tollgate must refuse with a 400 naming what is unbounded.
const REFUSED = {
  'claude without max_tokens': [claude({ max_tokens: undefined }), /max_tokens/],
  'claude web_search without max_uses': [claude({ tools: [{ type: 'web_search_20250305', name: 'web_search' }] }), /server-side tool uses is unbounded/],
  'claude code execution': [claude({ tools: [{ type: 'code_execution_20250522', name: 'code_execution' }] }), /container time/],
  'claude document by URL': [claude({ messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } }] }] }), /document by URL/],
  'responses web search without max_tool_calls': [responses({ max_output_tokens: 20, tools: [{ type: 'web_search' }] }), /unbounded/],
  'responses unknown previous_response_id': [responses({ max_output_tokens: 20, previous_response_id: 'resp_never_seen' }), /previous_response_id/],
  'responses file by id': [responses({ max_output_tokens: 20, input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'file-1' }] }] }), /file_id/],
  'responses image_generation': [responses({ max_output_tokens: 20, tools: [{ type: 'image_generation' }], max_tool_calls: 1 }), /image_generation/],
  'chat PDF by file_id': [chat({ max_tokens: 20, messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-1' } }] }] }), /file_id/],
};

// Sends one shape with the SDKs; resolves to the SDK's answer (drains a stream).
async function send(clients, shape, stream, headers = {}) {
  const body = JSON.parse(JSON.stringify({ ...shape.body, stream }));
  const options = { headers: { 'x-fake-bill': 'max', ...headers } };
  let result;
  if (shape.wire === 'chat') {
    result = await clients.openai.chat.completions.create(body, options);
  } else if (shape.wire === 'responses') {
    result = await clients.openai.responses.create(body, options);
  } else {
    result = await clients.anthropic.messages.create(body, options);
  }
  if (!stream && shape.body.background) {
    // A background run answers "queued": poll it to its end, as the OpenAI guide does.
    while (result.status === 'queued' || result.status === 'in_progress') {
      await new Promise((resolve) => setTimeout(resolve, 20));
      result = await clients.openai.responses.retrieve(result.id);
    }
  }
  if (!stream) {
    return result;
  }
  let last = null;
  for await (const event of result) {
    last = event;
  }
  return last;
}

module.exports = { ADMITTED, REFUSED, send, png, pdf };
