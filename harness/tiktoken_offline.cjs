// Preload for Flowise (NODE_OPTIONS="--require <this file>"): serve js-tiktoken's rank files
// locally.
//
// @langchain/openai estimates token usage with js-tiktoken "lite", which downloads
// https://tiktoken.pages.dev/js/<encoding>.json through a retrying fetcher (6 retries with
// exponential back-off). Without network access every streamed prediction then stalls for about
// three minutes after its last token. This file wraps globalThis.fetch and answers only that URL
// prefix, from the `js-tiktoken/ranks/<encoding>` module installed with Flowise (the same JSON).
// A missing rank file gets a 404, which is not retried. Every other request goes to the real fetch.
"use strict";

const path = require("node:path");

const PREFIX = "https://tiktoken.pages.dev/js/";
const realFetch = globalThis.fetch;

function searchPaths() {
  const paths = [process.cwd()];
  if (process.argv[1]) paths.push(path.dirname(process.argv[1]));
  if (process.env.FLOWISE_ASYNC_NODE_MODULES) paths.push(process.env.FLOWISE_ASYNC_NODE_MODULES);
  return paths;
}

function loadRanks(encoding) {
  if (!/^[A-Za-z0-9_]+$/.test(encoding)) return null;
  try {
    const resolved = require.resolve(`js-tiktoken/ranks/${encoding}`, { paths: searchPaths() });
    const mod = require(resolved);
    return mod && mod.default ? mod.default : mod;
  } catch (_err) {
    return null;
  }
}

function urlOf(input) {
  if (typeof input === "string") return input;
  if (input instanceof URL) return input.href;
  if (input && typeof input.url === "string") return input.url;
  return "";
}

if (typeof realFetch === "function") {
  globalThis.fetch = async function fetchWithLocalTiktoken(input, init) {
    const url = urlOf(input);
    if (url.startsWith(PREFIX)) {
      const match = /^([^/?#]+)\.json(?:[?#].*)?$/.exec(url.slice(PREFIX.length));
      const ranks = match ? loadRanks(match[1]) : null;
      if (ranks === null) {
        return new Response("not found", { status: 404, statusText: "Not Found" });
      }
      return new Response(JSON.stringify(ranks), {
        status: 200,
        headers: { "content-type": "application/json" },
      });
    }
    return realFetch(input, init);
  };
}
