// Preloaded (`node -r`) into the Portkey gateway by bench/proxy/run.js, and only there.
//
// Why: @portkey-ai/gateway 1.15.2 resolves @hono/node-server 1.19.x, whose lightweight
// Response keeps the Headers object of the `init` it is given. Portkey builds a streamed
// reply as `new Response(stream, upstreamResponse)` and then appends its own headers; the
// upstream response's headers come from fetch() and are immutable, so every streamed call
// fails with 500 "Something went wrong" (log: "TypeError: immutable"). Copying each fetched
// response into one with ordinary headers is the smallest change that lets the gateway
// stream; it costs one object per call, small beside the gateway's own work. Non-streamed
// calls work without it, and the benchmark states which runs used it.
'use strict';
const nativeFetch = globalThis.fetch;
const NativeResponse = globalThis.Response;
globalThis.fetch = async (...args) => {
  const response = await nativeFetch(...args);
  return new NativeResponse(response.body, {
    status: response.status,
    statusText: response.statusText,
    headers: new Headers(response.headers),
  });
};
