// A seeded pseudo-random source for the simulator: the same seed gives the same
// workload plan on every machine (a small chaotic 32-bit generator in the style of
// sfc32, seeded through splitmix32). Distributions for heavy-tailed costs.
'use strict';

function splitmix32(state) {
  let z = (state.value = (state.value + 0x9e3779b9) >>> 0);
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

// Returns an object with uniform(), int(lo, hi), chance(p), lognormal(median, sigma),
// pareto(min, alpha, cap) and pick(list); all deterministic from `seed`.
function makeRng(seed) {
  const s = { value: seed >>> 0 };
  let a = splitmix32(s), b = splitmix32(s), c = splitmix32(s), d = splitmix32(s);
  const next = () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 12; i++) next();
  const uniform = () => (next() + 0.5) / 4294967296;
  const normal = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return {
    uniform,
    int: (lo, hi) => lo + Math.floor(uniform() * (hi - lo + 1)),
    chance: (p) => uniform() < p,
    lognormal: (median, sigma) => median * Math.exp(sigma * normal()),
    pareto: (min, alpha, cap) => Math.min(cap, min / Math.pow(uniform(), 1 / alpha)),
    pick: (list) => list[Math.floor(uniform() * list.length)],
    fork: (salt) => makeRng((next() ^ Math.imul(salt + 1, 0x9e3779b1)) >>> 0),
  };
}

module.exports = { makeRng };
